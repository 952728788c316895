"""Quantization-aware training: ``hwflow.train.keras`` (QKeras) and ``hwflow.train.torch``
(Brevitas), imported on demand; ``hwflow.train.econt_metrics`` holds the ECON-T loss/metric."""
