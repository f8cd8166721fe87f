# The demo's mixed model with a head per source (ViTPose+'s design): the backbone of
# combine.py is shared, the COCO-like samples train a 17-keypoint head and the AIC-like
# ones a 14-keypoint head, each in its own layout, beside the 19-keypoint union head.
# Each source is scored with its own head (coco/AP, aic/AP) and with the union head
# (union/coco/AP, union/aic/AP).
_base_ = ['combine.py']

# repeated from combine.py: a config cannot read its base's variables
codec = dict(type='MSRAHeatmap', input_size=(96, 128), heatmap_size=(48, 64), sigma=2.0,
             unbiased=True, blur_kernel_size=5)
head = dict(type='HeatmapHead', in_channels=32, out_channels=None, deconv_out_channels=None,
            loss=dict(type='KeypointMSELoss', use_target_weight=True), decoder=codec)

model = dict(head=dict(_delete_=True, type='MultiSourceHead', heads=dict(coco=head, aic=head),
                       union=head))
