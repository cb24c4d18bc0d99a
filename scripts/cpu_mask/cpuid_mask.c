/* cpuid_mask.so: run a program natively as if on an x86-64 CPU without AVX-512 / VNNI (or without AVX at all).
 *
 * Loaded with LD_PRELOAD (scripts/as_cpu.py builds and loads it). Its constructor makes the CPUID instruction fault
 * for this process (Linux arch_prctl(ARCH_SET_CPUID, 0); the CPU and hypervisor must offer "cpuid_fault", see
 * /proc/cpuinfo) and answers each CPUID from a SIGSEGV handler with feature bits cleared. Libraries that choose
 * their kernels by CPUID at run time (ONNX Runtime's MLAS, numpy's dispatch, OpenBLAS) then take the paths of
 * that CPU, on real silicon: timings are those of this core running the narrower kernels (not an emulator's), and
 * results are those any CPU with that instruction set gets from the same kernels.
 *   EDGEINV_CPU_MASK=avx2  : no AVX-512 (F, CD, DQ, BW, VL, IFMA, VBMI, VBMI2, VNNI, BITALG, VPOPCNTDQ, 4VNNIW,
 *                            4FMAPS, VP2INTERSECT, FP16), no AVX-VNNI / AVX512_BF16, no opmask or ZMM state in
 *                            XCR0's offered bits: an AVX2 + FMA CPU (Haswell .. Zen 3 class)
 *   EDGEINV_CPU_MASK=sse42 : also no AVX, AVX2, FMA, F16C: an SSE4.2 CPU (Nehalem class)
 * glibc chooses its own variants (ifuncs) in ld.so, before this constructor runs: its libm's exp, log, sin, cos ...
 * have FMA variants whose last bits differ from the plain ones, so scripts/as_cpu.py also sets GLIBC_TUNABLES
 * (glibc.cpu.hwcaps=-FMA,...) to make glibc choose as on the masked CPU.                                        */
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <cpuid.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <errno.h>
#include <unistd.h>

static int level; /* 1 = avx2, 2 = sse42 */

static long set_cpuid(int on) { return syscall(SYS_arch_prctl, ARCH_SET_CPUID, on); }

static void on_segv(int sig, siginfo_t *si, void *uc_) {
    ucontext_t *uc = uc_;
    unsigned char *ip = (unsigned char *)uc->uc_mcontext.gregs[REG_RIP];
    if (ip[0] != 0x0f || ip[1] != 0xa2) { /* a real fault: default action */
        signal(SIGSEGV, SIG_DFL);
        return;
    }
    unsigned leaf = (unsigned)uc->uc_mcontext.gregs[REG_RAX], sub = (unsigned)uc->uc_mcontext.gregs[REG_RCX];
    unsigned a, b, c, d;
    set_cpuid(1);
    __cpuid_count(leaf, sub, a, b, c, d);
    set_cpuid(0);
    if (leaf == 7 && sub == 0) {
        b &= ~((1u << 16) | (1u << 17) | (1u << 21) | (1u << 26) | (1u << 27) | (1u << 28) | (1u << 30) | (1u << 31));
        c &= ~((1u << 1) | (1u << 6) | (1u << 11) | (1u << 12) | (1u << 14));
        d &= ~((1u << 2) | (1u << 3) | (1u << 8) | (1u << 23));
        if (level >= 2) b &= ~(1u << 5); /* AVX2 */
    }
    if (leaf == 7 && sub == 1) a &= ~((1u << 4) | (1u << 5)); /* AVX-VNNI, AVX512_BF16 */
    if (leaf == 1 && level >= 2) c &= ~((1u << 12) | (1u << 28) | (1u << 29)); /* FMA, AVX, F16C */
    if (leaf == 0xd && sub == 0) a &= level >= 2 ? 0x3u : 0x7u; /* XCR0 bits offered: no opmask/ZMM (and no YMM) */
    uc->uc_mcontext.gregs[REG_RAX] = a;
    uc->uc_mcontext.gregs[REG_RBX] = b;
    uc->uc_mcontext.gregs[REG_RCX] = c;
    uc->uc_mcontext.gregs[REG_RDX] = d;
    uc->uc_mcontext.gregs[REG_RIP] += 2;
}

__attribute__((constructor)) static void init(void) {
    const char *m = getenv("EDGEINV_CPU_MASK");
    if (!m || !*m) return;
    /* Python processes only (unless EDGEINV_CPU_MASK_ALL=1): the services the tests start (Chromium, mosquitto)
     * inherit LD_PRELOAD and install crash handlers of their own, which would take the faulting CPUID */
    const char *all = getenv("EDGEINV_CPU_MASK_ALL");
    if (!(all && strcmp(all, "1") == 0) && strncmp(program_invocation_short_name, "python", 6) != 0) return;
    level = strcmp(m, "sse42") == 0 ? 2 : 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSEGV, &sa, NULL);
    set_cpuid(0);
}
