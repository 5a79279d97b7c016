"""The names a preset chooses between, defined once as the preset's field types. The preset's validation (which
reads a field's `Literal` to know what it accepts), the wizard's lists and the tables that implement each choice
(kwtui.core.model.BUILDERS, kwtui.core.data.frontends.FRONTENDS) all use these; a test keeps the tables' keys equal
to them. Only `typing`: the CLI reads this before anything heavy loads."""

from typing import Literal, get_args

Model = Literal["stream", "cnn", "dscnn", "dscnn_s"]  # the default first (the wizard lists them in this order)
Frontend = Literal["micro", "spectrogram"]  # TFLM's audio frontend (the streaming model's), diy-alexa's spectrogram
ClassWeights = Literal["balanced", "none"]
Output = Literal["softmax", "sigmoid"]  # how several classes score: shared (softmax) or each its own (sigmoid)
Quantization = Literal["int8", "float"]
Chip = Literal["auto", "esp32", "esp32s3", "esp32s2", "esp32c3"]

MODELS: tuple[str, ...] = get_args(Model)
FRONTENDS: tuple[str, ...] = get_args(Frontend)
