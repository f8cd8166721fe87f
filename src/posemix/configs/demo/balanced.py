# The demo's mixed model with sources balanced by rule: source i fills a share
# ∝ nᵢ^(1/T) of each epoch. T=1 is plain concatenation (the small COCO-like set gets a
# fifth of the draws beside the AIC-like set 4x its size); T=4 gives it 41 %.
# T=4 was the best of T = 1, 2, 4 and 100 on the scarce demo (2,700 iterations; COCO AP
# 0.419, 0.437, 0.490, 0.469; AIC AP 0.122, 0.117, 0.120, 0.113).
_base_ = ['combine.py']

train_dataloader = dict(dataset=dict(balance=dict(temperature=4.0)))
