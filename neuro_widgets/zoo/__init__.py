"""Model zoo: CIFAR ResNets with real pretrained weights, and torchvision models."""
