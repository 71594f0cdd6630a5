#!/usr/bin/env python3
"""PyTorch + transformers side of the CoLA finetuning comparison in docs/performance.md.

    python3 scripts/cola_torch_check.py MODEL_DIR EPOCHS LR BATCH SEED

512 random CoLA training rows (../shared/data/cola), AdamW as HF Trainer sets it up (no decay on
bias/LayerNorm), linear warmup 10%, clipping 1.0, max_len 64; prints in-domain dev MCC.
"""
import math
import os
import random
import sys

import torch
from transformers import AutoTokenizer, BertForSequenceClassification, get_linear_schedule_with_warmup

HERE = os.path.dirname(os.path.abspath(__file__))
M=sys.argv[1]; epochs=float(sys.argv[2]); lr=float(sys.argv[3]); bs=int(sys.argv[4]); seed=int(sys.argv[5])
torch.manual_seed(seed); random.seed(seed)
rows=[l.rstrip("\n").split("\t") for l in open(HERE + "/../../shared/data/cola/in_domain_train.tsv")]
random.shuffle(rows); rows=rows[:512]
dev=[l.rstrip("\n").split("\t") for l in open(HERE + "/../../shared/data/cola/in_domain_dev.tsv")]
tok=AutoTokenizer.from_pretrained(M); model=BertForSequenceClassification.from_pretrained(M,num_labels=2)
nd=["bias","LayerNorm.weight"]
params=[{"params":[p for n,p in model.named_parameters() if not any(x in n for x in nd)],"weight_decay":0.01},{"params":[p for n,p in model.named_parameters() if any(x in n for x in nd)],"weight_decay":0.0}]
opt=torch.optim.AdamW(params,lr=lr,eps=1e-8)
steps=math.ceil(epochs*math.ceil(512/bs)); sch=get_linear_schedule_with_warmup(opt,math.ceil(0.1*steps),steps)
model.train(); step=0
while step<steps:
    random.shuffle(rows)
    for i in range(0,512,bs):
        if step>=steps: break
        b=rows[i:i+bs]; enc=tok([r[3] for r in b],padding=True,truncation=True,max_length=64,return_tensors="pt")
        out=model(**enc,labels=torch.tensor([int(r[1]) for r in b])); out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(),1.0); opt.step(); sch.step(); opt.zero_grad(); step+=1
model.eval(); tp=tn=fp=fn=0
with torch.no_grad():
    for i in range(0,len(dev),64):
        b=dev[i:i+64]; enc=tok([r[3] for r in b],padding=True,truncation=True,max_length=64,return_tensors="pt")
        pred=model(**enc).logits.argmax(-1).tolist()
        for r,p in zip(b,pred):
            g=int(r[1]); tp+=g==1 and p==1; tn+=g==0 and p==0; fp+=g==0 and p==1; fn+=g==1 and p==0
den=math.sqrt((tp+fp)*(tp+fn)*(tn+fp)*(tn+fn)) or 1
print(f"epochs {epochs} lr {lr} bs {bs} seed {seed}: MCC {(tp*tn-fp*fn)/den:.3f} acc {(tp+tn)/len(dev):.3f}")
