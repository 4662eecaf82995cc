"""Start a narrow ResNet generator from a wide one of the same family (GAN Compression's
``--restore_pretrained_G_path`` with ``--pretrained_ngf``; its ``utils/weight_transfer.py``).

Every conv of the student takes, from the teacher's conv of the same name, the input
channels the previous layer kept and the output channels with the largest L1 norm
(summed over kernel and kept inputs), strongest first. The chain runs
stem -> down convs -> residual blocks -> up convs -> head:

* the stem keeps all image channels; the head keeps all output channels (and its bias);
* a residual block's first conv picks its hidden channels by L1 norm; its second conv
  writes back to the channels the block input kept (so the residual sum matches);
* a separable conv's depthwise kernel keeps the channels of its input;
* biases and any norm weights (batch norm) follow their conv's output channels.

Difference from GAN Compression: its transposed-conv transfer re-picks the input
channels by the teacher kernel's own norms instead of the previous layer's choice (an
inverted ``if``); here the chain stays consistent, so a student as wide as the teacher
computes exactly the teacher's function (its channels permuted).
"""
import numpy as np

RESNET_MARKERS = ("stem_conv", "head_conv")


def _strongest(scores, k):
    """Indices of the k largest scores, largest first (ties: lower index first)."""
    return np.argsort(-scores, kind="stable")[:k]


class _Transfer:
    """Copies weights layer by layer (by name) from ``teacher`` into ``student``."""

    def __init__(self, teacher, student):
        self.teacher, self.student = teacher, student

    def weights(self, name):
        return ([w.numpy() for w in self.teacher.get_layer(name).weights],
                self.student.get_layer(name))

    def conv(self, name, in_idx, out_idx=None):
        """Conv2D (kernel [kh, kw, in, out]); returns the kept output channels."""
        (kernel, *bias), layer = self.weights(name)
        kernel = kernel[:, :, in_idx, :]
        if out_idx is None:
            out_idx = _strongest(np.abs(kernel).sum(axis=(0, 1, 2)), layer.filters)
        layer.set_weights([kernel[..., out_idx]] + [b[out_idx] for b in bias])
        return out_idx

    def conv_transpose(self, name, in_idx):
        """Conv2DTranspose (kernel [kh, kw, out, in]); returns the kept outputs."""
        (kernel, *bias), layer = self.weights(name)
        kernel = kernel[..., in_idx]
        out_idx = _strongest(np.abs(kernel).sum(axis=(0, 1, 3)), layer.filters)
        layer.set_weights([kernel[:, :, out_idx, :]] + [b[out_idx] for b in bias])
        return out_idx

    def depthwise(self, name, idx):
        (kernel, *bias), layer = self.weights(name)
        layer.set_weights([kernel[:, :, idx, :]] + [b[idx] for b in bias])

    def norm(self, name, idx):
        """Per-channel norm weights (batch norm); none for instance norm / identity."""
        weights, layer = self.weights(name)
        if weights:
            layer.set_weights([w[idx] for w in weights])

    def conv3x3(self, name, in_idx, out_idx=None):
        """A residual block's conv: plain, or separable (depthwise, norm, pointwise)."""
        names = {layer.name for layer in self.teacher.layers}
        if name in names:
            return self.conv(name, in_idx, out_idx)
        self.depthwise(f"{name}_depthwise", in_idx)
        self.norm(f"{name}_norm", in_idx)
        return self.conv(f"{name}_pointwise", in_idx, out_idx)


def _check(teacher, student):
    t_layers = [(l.name, type(l).__name__) for l in teacher.layers]
    s_layers = [(l.name, type(l).__name__) for l in student.layers]
    names = {name for name, _ in t_layers}
    if not all(marker in names for marker in RESNET_MARKERS):
        raise ValueError(
            f"Weight transfer from the teacher {teacher.name!r} supports the ResNet generators "
            "(resnet_<n>blocks, mobile_resnet_<n>blocks), as GAN Compression's. Fix: distil a "
            "ResNet teacher, or drop --init_student_from_teacher.")
    if t_layers[1:] != s_layers[1:]:
        raise ValueError(
            f"The student {student.name!r} is not the teacher {teacher.name!r}'s architecture at "
            "another width (their layers differ), so the teacher's weights cannot be copied into "
            "it. Fix: use the teacher's --netG (and --norm, --dropout) for --student_netG, or "
            "drop --init_student_from_teacher.")
    t_ngf = teacher.get_layer("stem_conv").filters
    s_ngf = student.get_layer("stem_conv").filters
    if s_ngf > t_ngf:
        raise ValueError(
            f"The student (ngf {s_ngf}) is wider than the teacher (ngf {t_ngf}); weight transfer "
            "copies a subset of the teacher's channels. Fix: --student_ngf <= the teacher's ngf, "
            "or drop --init_student_from_teacher.")


def transfer_weights(teacher, student):
    """Copy ``teacher``'s weights into the narrower ``student`` of the same ResNet
    architecture (module docstring). Both are built functional generators; the
    student's weights are overwritten in place. Raises ValueError (with the fix) for
    other architectures or a wider student."""
    _check(teacher, student)
    names = {layer.name for layer in teacher.layers}
    t = _Transfer(teacher, student)
    idx = t.conv("stem_conv", np.arange(teacher.input.shape[-1]))
    t.norm("stem_norm", idx)
    i = 0
    while f"down_{i}_conv" in names:
        idx = t.conv(f"down_{i}_conv", idx)
        t.norm(f"down_{i}_norm", idx)
        i += 1
    i = 0
    while f"block_{i}" in names:
        hidden = t.conv3x3(f"block_{i}_conv_0", idx)
        t.norm(f"block_{i}_norm_0", hidden)
        t.conv3x3(f"block_{i}_conv_1", hidden, out_idx=idx)
        t.norm(f"block_{i}_norm_1", idx)
        i += 1
    i = 0
    while f"up_{i}_conv" in names:
        idx = t.conv_transpose(f"up_{i}_conv", idx)
        t.norm(f"up_{i}_norm", idx)
        i += 1
    t.conv("head_conv", idx, out_idx=np.arange(teacher.output.shape[-1]))
