"""Encoder–decoder for translation: the sequence autoencoder of :mod:`aekit.models.text` whose
target is another sentence (Sutskever et al. 2014, "Sequence to Sequence Learning with Neural
Networks"; Cho et al. 2014). The source x is encoded to a code z, and a recurrent language
model started from z generates the target y:

    z = enc(x),    −log p(y | x) = Σ_t CE(logits_t, y_t)   (PAD not counted)

A row holds both sides: the source's ``source_length`` token ids, then the target's (each
side tokens + EOS + PAD, one tokenizer shared by both languages, as in Lample et al. 2018), so
``input_shape = (source_length + target_length,)`` and the trainer, the run directory and the
contract see one row as for every family. ``reconstruct`` fills the target slot with the
greedy translation; :meth:`Seq2Seq.translate` decodes greedily or with a beam search. The
decoder reads the code at every step and beside its output (Cho et al. 2014; ``net_options``
``feed_code``, true unless set false): a code that only starts the decoder is forgotten over a
sentence. With ``net_options`` ``attention`` the decoder also attends over the encoder's states
(Luong et al. 2015; :mod:`aekit.nets.text`): the code then no longer has to carry the whole
sentence. On ``text-transformer`` (:mod:`aekit.nets.text_transformer`) the decoder reads the
code at every position through its cross-attention, and with ``attention`` the code and the
source's states (the encoder–decoder attention of Vaswani et al. 2017).

:meth:`Seq2Seq.init_from` starts the encoder from an autoencoder trained on source sentences
and the decoder from one trained on target sentences (e.g. ``denoising_seqae``), the
autoencoder pretraining of Dai & Le 2015 and Lample et al. 2018. (A ``text-transformer``
decoder has the same layers with and without ``attention``: all of it is copied, its
cross-attention having read only the code until then.)

:func:`translate_ensemble` decodes with several translators at once (Sutskever et al. 2014,
§3.4; Vaswani et al. 2017): at every step the next token's probabilities are the mean of the
members' probabilities, p(y_t | y_<t, x) = (1/M) Σ_m p_m(y_t | y_<t, x), and greedy decoding
or the beam search runs on that mean, as for one model.

:meth:`Seq2Seq.candidates` (and :func:`ensemble_candidates`) give several translations per
source, the beam's final rows and ε-samples, for minimum Bayes risk decoding
(:mod:`aekit.tasks.mbr`): the translation kept is the candidate with the highest expected
chrF against the model's own samples.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import torch

from ..config import check, option
from ..errors import AekitError
from ..nets.modes import eval_mode
from ..nets.registry import get_network
from .base import Output
from .registry import register
from .text import TextAutoencoder, TextConfig, pad_to, teacher_inputs, token_nll, trim


@dataclasses.dataclass(frozen=True, kw_only=True)
class Seq2SeqConfig(TextConfig):
    source_length: int = option(help="tokens of the source side of a row (the rest is the target)")
    label_smoothing: float = option(0.0, "training loss against targets smoothed by ε (Szegedy et al. 2016); "
                                    "the reported NLL is always the true one")
    attends = True

    def validate(self) -> None:
        super().validate()
        check(0.0 <= self.label_smoothing < 1.0, "label_smoothing", f"must be in [0, 1), got {self.label_smoothing}")
        n = self.input_shape[0] if len(self.input_shape) == 1 else 0
        check(isinstance(self.source_length, int) and 2 <= self.source_length <= n - 2, "source_length",
              f"must leave at least 2 tokens to each side of a row of {n}, got {self.source_length!r}")


@register("seq2seq")
class Seq2Seq(TextAutoencoder):
    """Encoder–decoder translating the source side of a row into its target side."""

    config_class = Seq2SeqConfig
    paper = "Sutskever et al. 2014, Sequence to Sequence Learning with Neural Networks; Cho et al. 2014"
    variants = ({"source_length": 5}, {"source_length": 7, "arch": "text-lstm"},
                {"source_length": 6, "net_options": {"embed_dim": 8, "attention": True}},
                {"source_length": 6, "arch": "text-lstm", "net_options": {"attention": True, "bidirectional": True}},
                {"source_length": 6, "arch": "text-transformer",
                 "net_options": {"embed_dim": 8, "heads": 2, "layers": 1, "attention": True}})

    def build_networks(self, code_dim: int, config=None):
        """The token network with the code fed to every decoder step (Cho et al. 2014) unless
        ``net_options`` says ``feed_code: false``; the choice is written into the config. (A
        network without the option, ``text-transformer``, reads the code at every step anyway.)"""
        c = config or self.config
        if "feed_code" not in c.net_options and "feed_code" in (get_network(c.arch).options or ()):
            c = c.replace(net_options={**c.net_options, "feed_code": True})
            self.config = c
        return super().build_networks(code_dim, c)

    def sides(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(source, target) token rows of x, each without all-PAD columns."""
        s = self.config.source_length
        return trim(x[:, :s]), trim(x[:, s:])

    def output_length(self) -> int:
        return self.config.input_shape[0] - self.config.source_length

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code of the source side (B, latent_dim)."""
        return self.encoder(self.sides(x)[0])

    def encode_source(self, src: torch.Tensor):
        """(code, memory) of source rows: memory is what an attending decoder reads (None
        for a decoder that only reads the code)."""
        z, memory = self.encoder.states(src)
        return z, memory if self.decoder.attention else None

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if self.decoder.attention:
            raise AekitError("decode: this translator's decoder attends over the source's states, which a code "
                             "alone does not hold; use translate(source)")
        return super().decode(z)

    def forward(self, x: torch.Tensor) -> Output:
        src, tgt = self.sides(x)
        z, memory = self.encode_source(src)
        logits = self.decoder(z, teacher_inputs(tgt), memory=memory)
        nll = token_nll(logits, tgt)
        rec = nll.sum(1)
        eps = self.config.label_smoothing
        loss = token_nll(logits, tgt, eps).sum(1).mean() if eps > 0 and self.training else rec.mean()
        pred = pad_to(logits.detach().argmax(-1), self.output_length())
        recon = torch.cat([pad_to(src, self.config.source_length), pred], 1)
        terms = {"recon": rec.detach().mean(), "nll_token": nll.detach().sum() / (tgt != 0).sum()}
        return Output(loss=loss, terms=terms, recon=recon, z=z)

    def reconstruction_nll(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """−log p(y | z, x's source) per row for rows x holding both sides (only the target is
        scored; an attending decoder reads the source's states too), in chunks of rows."""
        src, tgt = self.sides(x)
        rows = self.chunk_rows(tgt.shape[1])
        out = []
        for zc, sc, tc in zip(z.split(rows), src.split(rows), tgt.split(rows)):
            memory = self.encode_source(sc)[1]
            out.append(token_nll(self.decoder(zc, teacher_inputs(tc), memory=memory), tc).sum(1))
        return torch.cat(out)

    @torch.inference_mode()
    def score(self, x: torch.Tensor) -> torch.Tensor:
        """−log p(y | x) per row (nats): how unlikely the target is as a translation of the source."""
        with eval_mode(self):
            x = self.check_input(x)
            return self.reconstruction_nll(self.encode(x), x)

    @torch.inference_mode()
    def score_map(self, x: torch.Tensor) -> torch.Tensor:
        """−log p(y_t | y_<t, x) of every target token, placed in the target slot; 0 elsewhere."""
        x = self.check_input(x)
        with eval_mode(self):
            src, tgt = self.sides(x)
            z, memory = self.encode_source(src)
            nll = token_nll(self.decoder(z, teacher_inputs(tgt), memory=memory), tgt)
            return torch.cat([torch.zeros(len(x), self.config.source_length, dtype=nll.dtype, device=nll.device),
                              pad_to(nll, self.output_length())], 1)

    @torch.inference_mode()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """The rows with their target slot replaced by the greedy translation of the source."""
        x = self.check_input(x)
        s = self.config.source_length
        return torch.cat([x[:, :s], self.translate(x[:, :s])], 1)

    @torch.inference_mode()
    def translate(self, source: torch.Tensor, beam: int = 1, length_penalty: float = 1.0) -> torch.Tensor:
        """Target token rows (B, target_length) for source rows (B, ≤ source_length)."""
        return self._decode_source(source, lambda z, memory: self.generate(
            z, beam=beam, length_penalty=length_penalty, memory=memory))

    @torch.inference_mode()
    def candidates(self, source: torch.Tensor, beam: int = 1, samples: int = 0, length_penalty: float = 1.0,
                   temperature: float = 1.0, epsilon: float = 0.0,
                   generator: torch.Generator | None = None) -> torch.Tensor:
        """Several translations of each source row, for a selection such as minimum Bayes risk
        decoding (:func:`aekit.tasks.mbr.mbr_select`): (B, N, target_length) token ids, the
        ``beam`` final rows of a beam search best first (the greedy row when ``beam`` is 1),
        then ``samples`` draws at ``temperature`` (ε-sampling with ``epsilon`` > 0)."""
        return self._decode_source(source, lambda z, memory: candidate_rows(
            self, z, memory, beam, samples, length_penalty, temperature, epsilon, generator))

    def _decode_source(self, source: torch.Tensor, decode):
        """``decode(codes, memory)`` of the source rows (checked), in eval mode."""
        check_source(source, self.config.source_length)
        with eval_mode(self):
            return decode(*self.encode_source(trim(source.to(next(self.parameters()).device))))

    def init_from(self, source_model: TextAutoencoder, target_model: TextAutoencoder) -> Seq2Seq:
        """Copy the encoder of ``source_model`` (trained on source sentences) and the decoder of
        ``target_model`` (trained on target sentences); both must share this model's tokenizer
        vocabulary, network, widths and code size. An attending decoder keeps its own (new)
        attention layers: an autoencoder has none."""
        for name, m, part in (("source_model", source_model, "encoder"), ("target_model", target_model, "decoder")):
            mine, theirs = getattr(self, part).state_dict(), getattr(m, part).state_dict()
            own = {"score.weight", "combine.weight", "combine.bias"} if part == "decoder" and self.decoder.attention else set()
            if {k: tuple(v.shape) for k, v in mine.items() if k not in own} != {k: tuple(v.shape) for k, v in theirs.items()}:
                raise AekitError(f"{name}: its {part} does not match this model's (vocab_size, arch, hidden, "
                                 "latent_dim and net_options must be the same)")
            getattr(self, part).load_state_dict({**mine, **theirs})
        return self


def check_source(source: torch.Tensor, length: int) -> None:
    """Source token rows must be (batch, ≤ length)."""
    if source.dim() != 2 or source.shape[1] > length:
        raise AekitError(f"source: expected token rows (batch, ≤ {length}), got {tuple(source.shape)}")


def candidate_rows(model, z: torch.Tensor, memory, beam: int, samples: int, length_penalty: float,
                   temperature: float, epsilon: float, generator: torch.Generator | None) -> torch.Tensor:
    """(B, N, length) rows decoded from codes z by ``model`` (a translator or an ensemble): the
    beam's final rows (or the greedy row), then ``samples`` draws per code."""
    if not isinstance(samples, int) or samples < 0:
        raise AekitError(f"samples: must be a number of draws ≥ 0, got {samples!r}")
    if samples and temperature <= 0:
        raise AekitError(f"temperature: draws need a temperature > 0, got {temperature}")
    if beam > 1:
        rows, _ = model.beam_search(z, beam, model.output_length(), length_penalty, memory, all_beams=True)
    else:
        rows = model.generate(z, beam=beam, memory=memory)[:, None]
    if not samples:
        return rows
    many = tuple(m.repeat_interleave(samples, 0) for m in memory) if memory else None
    drawn = model.generate(z.repeat_interleave(samples, 0), temperature=temperature, generator=generator,
                           memory=many, epsilon=epsilon)
    return torch.cat([rows, drawn.view(len(z), samples, -1)], 1)


class _EnsembleDecoder:
    """The decoders of several translators as one decoder for :meth:`TextAutoencoder.generate`:
    the code is the members' codes side by side, the memory their memories' tensors one after
    another, and a step's logits are log of the mean of the members' next-token probabilities."""

    def __init__(self, decoders, code_dims: list[int], memory_sizes: list[int]):
        self.decoders, self.code_dims, self.memory_sizes = decoders, code_dims, memory_sizes

    def start(self, z: torch.Tensor, memory):
        flat, states = list(memory or ()), []
        for d, zi, n in zip(self.decoders, z.split(self.code_dims, -1), self.memory_sizes):
            states.append(d.start(zi, tuple(flat[:n]) if n else None))
            flat = flat[n:]
        return tuple(states)

    def step(self, tokens: torch.Tensor, state):
        logps, new = [], []
        for d, s in zip(self.decoders, state):
            logits, s = d.step(tokens, s)
            logps.append(torch.log_softmax(logits.float(), -1))
            new.append(s)
        return torch.logsumexp(torch.stack(logps), 0) - math.log(len(logps)), tuple(new)

    def select(self, state, index: torch.Tensor):
        return tuple(d.select(s, index) for d, s in zip(self.decoders, state))


class _Ensemble:
    """What ``generate`` and ``beam_search`` read of a model: its decoder and output length."""

    generate = TextAutoencoder.generate
    beam_search = TextAutoencoder.beam_search

    def __init__(self, decoder: _EnsembleDecoder, length: int):
        self.decoder, self.length = decoder, length

    def output_length(self) -> int:
        return self.length


def translate_ensemble(models: Sequence[Seq2Seq], source: torch.Tensor, beam: int = 1,
                       length_penalty: float = 1.0) -> torch.Tensor:
    """Target token rows (B, target_length) for source rows (B, ≤ source_length), decoded by
    several translators together: the next token's probabilities are the mean of theirs
    (greedy, or a ``beam`` search with ``length_penalty`` as in :meth:`Seq2Seq.translate`).
    The translators must share the tokenizer's vocabulary and the row layout (vocab_size,
    source_length and input_shape); their networks may differ. One translator decodes exactly
    as its own ``translate``."""
    return _decode_together(models, source, lambda ens, z, memory: ens.generate(
        z, beam=beam, length_penalty=length_penalty, memory=memory))


def ensemble_candidates(models: Sequence[Seq2Seq], source: torch.Tensor, beam: int = 1, samples: int = 0,
                        length_penalty: float = 1.0, temperature: float = 1.0, epsilon: float = 0.0,
                        generator: torch.Generator | None = None) -> torch.Tensor:
    """:meth:`Seq2Seq.candidates` of several translators decoding together (the mean of their
    next-token probabilities, as in :func:`translate_ensemble`). (B, N, target_length)"""
    return _decode_together(models, source, lambda ens, z, memory: candidate_rows(
        ens, z, memory, beam, samples, length_penalty, temperature, epsilon, generator))


def _decode_together(models: Sequence[Seq2Seq], source: torch.Tensor, decode):
    """``decode(ensemble, codes, memory)`` for the translators' ensemble on the source rows,
    after checking that they can decode together; each model's train/eval mode is restored."""
    models = list(models)
    if not models or not all(isinstance(m, Seq2Seq) for m in models):
        raise AekitError("models: translate_ensemble takes one or more Seq2Seq translators")
    first = models[0].config
    for i, m in enumerate(models[1:], 1):
        c = m.config
        if (c.vocab_size, c.source_length, tuple(c.input_shape)) != (first.vocab_size, first.source_length,
                                                                      tuple(first.input_shape)):
            raise AekitError(f"models[{i}]: its vocab_size, source_length or input_shape differs from models[0]'s "
                             "(the members must share one tokenizer and row layout); train them on the same rows")
    check_source(source, first.source_length)
    src = trim(source.to(next(models[0].parameters()).device))
    codes, memory, sizes = [], [], []
    with torch.inference_mode():
        was = [m.training for m in models]
        try:
            for m in models:
                m.eval()
                z, mem = m.encode_source(src)
                codes.append(z)
                memory.extend(mem or ())
                sizes.append(len(mem or ()))
            decoder = _EnsembleDecoder([m.decoder for m in models], [z.shape[-1] for z in codes], sizes)
            return decode(_Ensemble(decoder, models[0].output_length()), torch.cat(codes, -1), tuple(memory) or None)
        finally:
            for m, t in zip(models, was):
                m.train(t)
