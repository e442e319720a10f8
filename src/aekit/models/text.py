"""Text autoencoders over token ids: the sequence autoencoder (Dai & Le 2015, "Semi-supervised
Sequence Learning") and the sentence VAE (Bowman et al. 2016, "Generating Sentences from a
Continuous Space").

A row x = (x_1, …, x_n, EOS, PAD, …) of token ids (:class:`aekit.data.tokens.Tokenizer`) is
encoded to a code z by a recurrent encoder, and a recurrent language model started from z
reconstructs it token by token (:mod:`aekit.nets.text`, ``text-gru`` / ``text-lstm``; or a
Transformer encoder and a causal Transformer decoder that reads z at every position,
:mod:`aekit.nets.text_transformer`, ``text-transformer``):

    p(x | z) = Π_t p(x_t | x_<t, z),    −log p(x | z) = Σ_t CE(logits_t, x_t)   (PAD not counted)

trained with teacher forcing (the decoder reads BOS, x_1, …, x_{t−1}). The sequence autoencoder
(``seqae``) minimizes −log p(x | z) with z = enc(x). The sentence VAE (``sentence_vae``) has a
Gaussian posterior q(z|x) = N(μ(x), diag σ²(x)) and minimizes

    −ELBO = E_q[−log p(x | z)] + β_t · KL(q(z|x) ‖ N(0, I))

with Bowman's two remedies against posterior collapse — KL annealing (β_t rises linearly from
0 to β over ``kl_anneal`` steps) and word dropout (each decoder input token but BOS replaced by
UNK with probability ``word_dropout``) — and the free bits of Kingma et al. 2016 (IAF, §C.8):
the KL of each code dimension, averaged over the batch, counts at least ``free_bits`` nats,
Σ_j max(λ, E_batch KL_j), so the optimizer gains nothing by pushing a dimension below λ.

Losses are nats per item (summed over its tokens), averaged over the batch. ``score`` is the
item's −log p(x | z) at its code (``seqae``) or its −ELBO at the posterior mean
(``sentence_vae``). ``decode(z)`` gives token ids by greedy decoding, so ``reconstruct``,
interpolation between codes and ``sample`` (with a temperature) work as for images; the
tokenizer turns them back into text.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import torch
import torch.nn.functional as F

from ..config import check, option
from ..data.tokens import BOS, EOS, MASK, PAD, UNK
from ..errors import AekitError
from ..latents import GaussianPosterior, standard_normal_log_prob
from ..nets.modes import eval_mode
from ..nets.registry import get_network
from ..schedules import Schedule
from .base import ArchConfig, Autoencoder, Output
from .registry import register

TOKEN_NETWORKS = ("text-gru", "text-lstm", "text-transformer")


@dataclasses.dataclass(frozen=True, kw_only=True)
class TextConfig(ArchConfig):
    """A text family: rows of ``input_shape = (max_length,)`` token ids over ``vocab_size`` tokens."""

    vocab_size: int = option(help="tokens in the tokenizer's vocabulary (specials included)")
    arch: str = option("text-gru", "token network: text-gru, text-lstm or text-transformer")
    hidden: tuple[int, ...] = option((256,), "width of the recurrent state (hidden[0]); text-transformer: of its "
                                     "feed-forward layers")
    latent_dim: int = option(32, "code size")
    attends: ClassVar[bool] = False  # may the decoder attend over the encoder's states (net_options)?

    def validate(self) -> None:
        check(not self.net_options.get("attention") or self.attends, "net_options",
              "attention lets an autoencoder's decoder copy its input past the code; only seq2seq takes it")
        check(isinstance(self.vocab_size, int) and self.vocab_size > 5, "vocab_size",
              f"must be an integer > 5 (the 5 special tokens and at least one more), got {self.vocab_size!r}")
        check(get_network(self.arch).input_dtype == "long", "arch",
              f"the text families take a token network ({', '.join(TOKEN_NETWORKS)}), got {self.arch!r}")
        super().validate()


def teacher_inputs(x: torch.Tensor) -> torch.Tensor:
    """The decoder's inputs for targets x (B, T): BOS, x_1, …, x_{T−1}."""
    return torch.cat([torch.full_like(x[:, :1], BOS), x[:, :-1]], 1)


def token_nll(logits: torch.Tensor, x: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """−log p(x_t | …) of every position (B, T), 0 at PAD positions (the cross-entropy against
    targets smoothed by ``label_smoothing`` when it is > 0)."""
    b, t, v = logits.shape
    return F.cross_entropy(logits.reshape(b * t, v).float(), x.reshape(b * t), ignore_index=PAD,
                           reduction="none", label_smoothing=label_smoothing).view(b, t)


def trim(x: torch.Tensor) -> torch.Tensor:
    """The batch without the columns that are PAD in every row."""
    t = int((x != PAD).sum(1).max()) if len(x) else 1
    return x[:, :max(t, 1)]


def pad_to(y: torch.Tensor, length: int) -> torch.Tensor:
    return F.pad(y, (0, length - y.shape[1]), value=PAD) if y.shape[1] < length else y


class TextAutoencoder(Autoencoder):
    """Shared by the text families: teacher forcing, token likelihood, greedy/sampled decoding."""

    config_class = TextConfig
    inputs = "tokens"
    variants = ({}, {"arch": "text-lstm"}, {"arch": "text-transformer", "net_options": {"embed_dim": 8, "heads": 2}})
    # ids per chunk of teacher-forced logits (rows × steps × vocab floats)
    logits_budget: int = 1 << 23

    def __init__(self, config: TextConfig | None = None, **kwargs):
        super().__init__(config, **kwargs)
        self.encoder, self.decoder = self.build_networks(self.code_width())

    def code_width(self) -> int:
        return self.config.latent_dim

    def decoder_inputs(self, x: torch.Tensor) -> torch.Tensor:
        return teacher_inputs(x)

    def chunk_rows(self, steps: int) -> int:
        """Rows per chunk when scoring rows of ``steps`` decoded tokens: the teacher-forced
        logits of a chunk (rows × steps × vocab) stay within ``logits_budget``."""
        return max(1, self.logits_budget // (steps * self.config.vocab_size))

    def reconstruction_nll(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """−log p(x | z) per row (B,), teacher forced, in chunks of rows that bound the logits."""
        rows = self.chunk_rows(x.shape[1])
        return torch.cat([token_nll(self.decoder(zc, self.decoder_inputs(xc)), xc).sum(1)
                          for zc, xc in zip(z.split(rows), x.split(rows))])

    def encode(self, x: torch.Tensor):
        return self.encoder(trim(x))

    @torch.inference_mode()
    def score_map(self, x: torch.Tensor) -> torch.Tensor:
        """−log p(x_t | x_<t, z) of every token (B, max_length) at the item's code; 0 at PAD."""
        x = self.check_input(x)
        with eval_mode(self):
            xt = trim(x)
            logits = self.decoder(self.code(xt), teacher_inputs(xt))
            return pad_to(token_nll(logits, xt), x.shape[1])

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Greedy decoding: token ids (B, max_length), each row tokens + EOS + PAD."""
        return self.generate(z)

    def output_length(self) -> int:
        """Tokens per decoded row."""
        return self.config.input_shape[0]

    @torch.no_grad()
    def generate(self, z: torch.Tensor, temperature: float = 0.0, max_length: int | None = None,
                 generator: torch.Generator | None = None, beam: int = 1,
                 length_penalty: float = 1.0, memory=None, epsilon: float = 0.0) -> torch.Tensor:
        """Token ids (B, max_length) decoded from codes z (B, D): the most likely token at each
        step (``temperature=0``), a draw from softmax(logits / temperature), or with ``beam`` > 1
        the best of a beam search. ``epsilon`` > 0 (with a temperature): ε-sampling (Hewitt et
        al. 2022), a token whose probability is below ε is never drawn (the most likely one
        always can be). A row that has not ended at max_length − 1 tokens gets its EOS there.
        ``memory``: the encoder's states, for a decoder that attends over them."""
        if temperature < 0:
            raise AekitError(f"temperature: must be ≥ 0 (0 = greedy), got {temperature}")
        if not isinstance(beam, int) or beam < 1:
            raise AekitError(f"beam: must be a positive number of hypotheses, got {beam!r}")
        if not 0.0 <= epsilon < 1.0:
            raise AekitError(f"epsilon: the smallest probability a drawn token may have, in [0, 1), got {epsilon}")
        length = max_length or self.output_length()
        if beam > 1:
            return self.beam_search(z, beam, length, length_penalty, memory)
        out = torch.full((len(z), length), PAD, dtype=torch.long, device=z.device)
        done = torch.zeros(len(z), dtype=torch.bool, device=z.device)
        tok = torch.full((len(z),), BOS, dtype=torch.long, device=z.device)
        state = self.decoder.start(z, memory)
        for t in range(length):
            logits, state = self.decoder.step(tok, state)
            logits[:, PAD] = logits[:, BOS] = logits[:, MASK] = -math.inf  # never emitted
            if t == length - 1:
                tok = torch.full_like(tok, EOS)
            elif temperature == 0:
                tok = logits.argmax(-1)
            else:
                probs = torch.softmax(logits.float() / temperature, -1)
                if epsilon > 0:  # the most likely token stays drawable whatever ε is
                    probs = probs.masked_fill((probs < epsilon) & (probs < probs.amax(-1, keepdim=True)), 0.0)
                tok = torch.multinomial(probs, 1, generator=generator)[:, 0]
            out[:, t] = torch.where(done, torch.full_like(tok, PAD), tok)
            done |= tok == EOS
            if bool(done.all()):
                break
        return out

    @torch.no_grad()
    def beam_search(self, z: torch.Tensor, beam: int, length: int, length_penalty: float = 1.0,
                    memory=None, all_beams: bool = False):
        """The ``beam`` most likely partial rows are extended token by token; the finished row
        with the best log-probability / (tokens ** length_penalty) is kept (Wu et al. 2016's
        normalization with α = ``length_penalty``; 0: none). (B, length) token ids; with
        ``all_beams``, every final row, best first, and its normalized score: (B, beam,
        length) ids and (B, beam) scores (−inf for a slot no hypothesis reached)."""
        b, k = len(z), beam
        if memory is not None:
            memory = tuple(m.repeat_interleave(k, 0) for m in memory)
        state = self.decoder.start(z.repeat_interleave(k, 0), memory)
        tok = torch.full((b * k,), BOS, dtype=torch.long, device=z.device)
        scores = torch.zeros(b, k, device=z.device)
        scores[:, 1:] = -math.inf  # the k hypotheses start as one
        rows = torch.full((b * k, length), PAD, dtype=torch.long, device=z.device)
        done = torch.zeros(b * k, dtype=torch.bool, device=z.device)
        base = torch.arange(b, device=z.device)[:, None] * k
        for t in range(length):
            logits, state = self.decoder.step(tok, state)
            logp = torch.log_softmax(logits.float(), -1)  # (B·K, V)
            logp[:, PAD] = logp[:, BOS] = logp[:, MASK] = -math.inf
            if t == length - 1:  # the last slot is an EOS
                logp[:, :EOS] = logp[:, EOS + 1:] = -math.inf
            logp[done] = -math.inf
            logp[done, PAD] = 0.0  # a finished row goes on with PAD at no cost
            v = logp.shape[1]
            best, idx = (scores.view(-1, 1) + logp).view(b, k * v).topk(k, dim=1)  # (B, K)
            sel = (base + idx // v).view(-1)
            tok = (idx % v).view(-1)
            rows, done, state = rows[sel], done[sel], self.decoder.select(state, sel)
            rows[:, t] = tok
            done = done | (tok == EOS)
            scores = best
            if bool(done.all()):
                break
        n_tok = (rows != PAD).sum(1).clamp(min=1).view(b, k).float()
        normed = scores / n_tok ** length_penalty
        if all_beams:
            order = normed.argsort(dim=1, descending=True, stable=True)
            return rows.view(b, k, length).gather(1, order[..., None].expand(-1, -1, length)), normed.gather(1, order)
        pick = normed.argmax(1)
        return rows.view(b, k, length)[torch.arange(b, device=z.device), pick]


@register("seqae")
class SeqAE(TextAutoencoder):
    """Sequence autoencoder (Dai & Le 2015): z = enc(x), loss −log p(x | z) with teacher forcing."""

    paper = "Dai & Le 2015, Semi-supervised Sequence Learning"

    def forward(self, x: torch.Tensor) -> Output:
        length, x = x.shape[1], trim(x)
        z = self.encoder(self.encoder_inputs(x))
        logits = self.decoder(z, self.decoder_inputs(x))
        nll = token_nll(logits, x)  # (B, T)
        rec = nll.sum(1)
        tokens = (x != PAD).sum()
        terms = {"recon": rec.detach().mean(), "nll_token": nll.detach().sum() / tokens}
        return Output(loss=rec.mean(), terms=terms, recon=pad_to(logits.detach().argmax(-1), length), z=z)

    def encoder_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """What the encoder reads while training (the denoising family corrupts it)."""
        return x

    @torch.inference_mode()
    def score(self, x: torch.Tensor) -> torch.Tensor:
        """−log p(x | z) per item (nats) at its code z = enc(x)."""
        with eval_mode(self):
            x = trim(self.check_input(x))
            return self.reconstruction_nll(self.encoder(x), x)


@dataclasses.dataclass(frozen=True, kw_only=True)
class SentenceVAEConfig(TextConfig):
    beta: float = option(1.0, "weight β of the KL term")
    kl_anneal: int = option(2000, "KL annealing: steps over which β rises linearly from 0 (0 = none)")
    word_dropout: float = option(0.0, "probability of replacing each decoder input token by UNK while training")
    free_bits: float = option(0.0, "free bits λ: nats per code dimension the KL term does not push below (0 = off)")

    def validate(self) -> None:
        super().validate()
        check(self.beta >= 0, "beta", f"KL weight must be ≥ 0, got {self.beta}")
        check(self.kl_anneal >= 0, "kl_anneal", f"steps must be ≥ 0, got {self.kl_anneal}")
        check(0.0 <= self.word_dropout <= 1.0, "word_dropout", f"must be in [0, 1], got {self.word_dropout}")
        check(self.free_bits >= 0, "free_bits", f"nats must be ≥ 0, got {self.free_bits}")


@register("sentence_vae")
class SentenceVAE(TextAutoencoder):
    """Sentence VAE (Bowman et al. 2016) with free bits (Kingma et al. 2016)."""

    config_class = SentenceVAEConfig
    paper = "Bowman et al. 2016, Generating Sentences from a Continuous Space; Kingma et al. 2016 (free bits)"
    variational = True
    generative = True
    variants = ({}, {"arch": "text-lstm", "word_dropout": 0.5, "free_bits": 0.5, "kl_anneal": 0},
                {"arch": "text-transformer", "word_dropout": 0.3, "net_options": {"embed_dim": 8, "layers": 1}})

    def __init__(self, config: SentenceVAEConfig | None = None, **kwargs):
        super().__init__(config, **kwargs)
        c = self.config
        self.beta_schedule = (Schedule("linear", 0.0, c.beta, c.kl_anneal, unit="step", name="kl_anneal")
                              if c.kl_anneal else Schedule("constant", c.beta, c.beta, name="beta"))

    def code_width(self) -> int:
        return 2 * self.config.latent_dim  # μ and log σ²

    def kl_weight(self) -> float:
        return self.clock.at(self.beta_schedule) if self.training else self.config.beta

    def schedule_values(self) -> dict[str, float]:
        return {"beta": self.clock.at(self.beta_schedule)} if self.config.kl_anneal else {}

    def encode(self, x: torch.Tensor) -> GaussianPosterior:
        return GaussianPosterior.from_params(self.encoder(trim(x)))

    def decoder_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """Teacher-forced inputs with word dropout while training (BOS and PAD kept)."""
        u = teacher_inputs(x)
        p = self.config.word_dropout
        if self.training and p > 0:
            drop = (torch.rand(u.shape, device=u.device) < p) & (u != PAD)
            drop[:, 0] = False  # BOS
            u = u.masked_fill(drop, UNK)
        return u

    def forward(self, x: torch.Tensor) -> Output:
        length, x = x.shape[1], trim(x)
        q = self.encode(x)
        z = q.sample()
        logits = self.decoder(z, self.decoder_inputs(x))
        nll = token_nll(logits, x)
        rec = nll.sum(1)  # (B,)
        kl_dims = 0.5 * (q.mean.pow(2) + q.logvar.exp() - q.logvar - 1)  # (B, D)
        kl = kl_dims.sum(1)
        lam = self.config.free_bits
        kl_term = kl_dims.mean(0).clamp(min=lam).sum() if lam > 0 else kl.mean()
        loss = rec.mean() + self.kl_weight() * kl_term
        tokens = (x != PAD).sum()
        terms = {"recon": rec.detach().mean(), "kl": kl.detach().mean(), "neg_elbo": (rec + kl).detach().mean(),
                 "nll_token": nll.detach().sum() / tokens}
        return Output(loss=loss, terms=terms, recon=pad_to(logits.detach().argmax(-1), length), z=z)

    # -- the likelihood interface of the variational families (aekit.likelihoods) ---------------
    def prior_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return standard_normal_log_prob(z)

    def decode_params(self, z: torch.Tensor) -> torch.Tensor:
        """The code itself: p(x | z) = Π_t p(x_t | x_<t, z) needs x, so the decoder runs in ``nll``."""
        return z

    def nll(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """−log p(x | z) for codes ``h`` = z (..., B, D) and rows x (B, L): (..., B)."""
        x = trim(x)
        lead = h.shape[:-1]
        z = h.reshape(-1, h.shape[-1])
        xs = x.expand(*lead[:-1], *x.shape).reshape(-1, x.shape[1]) if len(lead) > 1 else x
        return self.reconstruction_nll(z, xs).view(lead)

    def elbo_terms(self, x: torch.Tensor):
        """(−log p(x|z), KL, h, z) per item, one reparameterized z each."""
        q = self.encode(x)
        z = q.sample()
        return self.nll(z, x), q.kl(), z, z

    @torch.inference_mode()
    def score(self, x: torch.Tensor) -> torch.Tensor:
        """−ELBO per item (nats) at the posterior mean: −log p(x | μ) + KL(q ‖ p)."""
        with eval_mode(self):
            x = trim(self.check_input(x))
            q = self.encode(x)
            return self.reconstruction_nll(q.mean, x) + q.kl()

    @torch.inference_mode()
    def sample(self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
        """n items drawn from the model: z ~ N(0, I), tokens drawn at ``temperature`` (0: greedy).
        (n, max_length) token ids."""
        p = next(self.parameters())
        z = torch.randn(n, self.config.latent_dim, generator=generator, device=p.device, dtype=p.dtype)
        with eval_mode(self):
            return self.generate(z, temperature=temperature, generator=generator)
