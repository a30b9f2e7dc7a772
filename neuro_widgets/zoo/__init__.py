"""Model zoo: CIFAR ResNets, MobileNetV1 x0.25 and EfficientNet-Lite0 with real pretrained weights, and
torchvision models."""
