# The demo's mixed model with sources balanced by rule: source i fills a share
# ∝ nᵢ^(1/T) of each epoch. T=1 is plain concatenation (the small COCO-like set gets a
# fifth of the draws beside the AIC-like set 4x its size); T=2 gives it a third.
_base_ = ['combine.py']

train_dataloader = dict(dataset=dict(balance=dict(temperature=2.0)))
