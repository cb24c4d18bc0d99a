from common import *
import pickle
wl,R,sp,d=load()
M=[];P=[]
for i in range(len(R)):
    rm,p=nearest_model(wl,R[i],chem(d,i)); M.append(rm); P.append(p)
M=np.array(M); E=R-M
pickle.dump(dict(M=M,P=P,E=E),open('nearest.pkl','wb'))
bands={'VIS 500-700':(500,700),'NIR 750-1000':(750,1000),'1000-1300':(1000,1300),'1300-1850':(1300,1850),'1850-2100':(1850,2100),'prot 2100-2180':(2100,2180),'2180-2400':(2180,2400)}
for s in np.unique(sp):
    m=sp==s
    print(s,'Nstruct %.2f±%.2f cab %.1f±%.1f'%(np.mean([P[i]['n_struct'] for i in np.where(m)[0]]),np.std([P[i]['n_struct'] for i in np.where(m)[0]]),np.mean([P[i]['cab'] for i in np.where(m)[0]]),np.std([P[i]['cab'] for i in np.where(m)[0]])))
    for b,(a,c) in bands.items():
        sel=(wl>=a)&(wl<=c)
        print(f'   {b:16s} real-model mean {E[m][:,sel].mean():+.4f}  leaf-to-leaf sd {E[m][:,sel].mean(1).std():.4f}  rel {np.mean(E[m][:,sel]/M[m][:,sel]):+.3f}')
