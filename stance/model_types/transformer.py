"""A fine-tuned transformer encoder with a classification head: a Hugging Face model dir at the top of
the model dir, so `transformers.pipeline()` loads it as it is. Trained by `stance.model_types.finetune`."""

from __future__ import annotations

import warnings
from pathlib import Path

from stance.errors import StanceError
from stance.hardware import INT8_VALIDATED, choose_precision
from stance.model_types import LoadOptions, ModelType, TrainRun


class TransformerModel(ModelType):
    name = "transformer"
    files = ("model.safetensors",)

    def __init__(self, model, tokenizer, cfg: dict, bf16: bool = False, workers: int = 1):
        self.model, self.tokenizer = model, tokenizer
        self.max_length = int(cfg["model"]["max_length"])
        self.context = cfg["data"]["context"] == 1  # the previous sentence is the second segment
        self.bf16 = bf16
        self.workers = workers  # batches scored in parallel, one thread each (CPU)
        self._pool = None
        self.history: dict = {}
        self.precision, self.precision_reason = "bf16" if bf16 else "fp32", ""

    @classmethod
    def preflight(cls, cfg) -> None:
        cfg.encoder_path()  # a bad encoder fails before anything is read or written

    @classmethod
    def train(cls, cfg, corpus: dict[str, list[dict]], run: TrainRun) -> TransformerModel:
        from stance.model_types.finetune import fine_tune

        return fine_tune(cfg, corpus, run)

    @classmethod
    def load(cls, model_dir: Path, meta: dict, options: LoadOptions) -> TransformerModel:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        if options.threads:
            torch.set_num_threads(options.threads)
        if not (model_dir / "config.json").is_file():
            raise StanceError("config.json missing: not a transformer model directory", path=model_dir)
        try:
            tokenizer = AutoTokenizer.from_pretrained(model_dir)
            model = AutoModelForSequenceClassification.from_pretrained(
                model_dir, use_safetensors=True, trust_remote_code=False
            )
        except (OSError, ValueError) as exc:
            raise StanceError(f"cannot load the model: {str(exc).splitlines()[0]}", path=model_dir) from None
        if model.config.num_labels != len(meta["labels"]):
            raise StanceError(
                f"the weights have {model.config.num_labels} outputs but stance.json lists "
                f"{len(meta['labels'])} labels",
                path=model_dir,
            )
        model.eval()
        precision, reason = choose_precision(options.precision, model.config.model_type)
        if reason and options.precision != "auto":
            warnings.warn(reason, stacklevel=2)  # e.g. bf16 asked for on a CPU without native bf16
        if precision == "int8":
            if model.config.model_type not in INT8_VALIDATED:
                raise StanceError(
                    f"int8 is validated on BERT-family encoders only; this is {model.config.model_type} "
                    "(mpnet loses 0.2 macro-F1 under dynamic int8): use bf16",
                    path=model_dir,
                )
            model = quantize_int8(model)
        if precision == "bf16":
            bf16_linears(model)
        loaded = cls(model, tokenizer, meta["config"], bf16=precision == "bf16", workers=torch.get_num_threads())
        loaded.precision, loaded.precision_reason = precision, reason
        return loaded

    def logits(self, texts: list[str], contexts: list[str] | None = None, batch_size: int = 64):
        """Computed in batches of equal-length sentences (no padding), rows in input order. Training's
        validation pass and every prediction come through here."""
        import numpy as np
        import torch

        from stance.encoding import cls_forward, encode, length_batches, sorted_chunks

        if self.context and contexts is None:
            contexts = [""] * len(texts)
        enc = encode(self.tokenizer, texts, contexts if self.context else None, self.max_length)
        out = np.zeros((len(texts), self.model.config.num_labels), dtype=np.float32)
        was_training = self.model.training
        if was_training:  # eval() walks every module: ~2 ms, a tenth of a small server batch
            self.model.eval()
        fast = cls_forward(self.model)
        device = self.model.device

        def run(idx: list[int]) -> None:
            with torch.inference_mode():
                batch = self.tokenizer.pad({k: [enc[k][i] for i in idx] for k in enc}, return_tensors="pt")
                batch = {k: v.to(device) for k, v in batch.items()}
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.bf16):
                    logits = fast(**batch) if fast is not None else self.model(**batch).logits
                out[idx] = logits.float().cpu().numpy()

        lengths = [len(ids) for ids in enc["input_ids"]]
        batches = length_batches(lengths, batch_size)
        workers = min(self.workers, torch.get_num_threads())  # a caller on one thread (a lane) stays on it
        if len(batches) > 1 and len(lengths) / len(batches) < batch_size / 2:  # mostly lone sentences
            batches = sorted_chunks(lengths, workers, batch_size)  # one padded batch per worker
        pool = self._workers_pool() if len(batches) > 1 and workers > 1 else None
        list(pool.map(run, batches) if pool is not None else map(run, batches))
        if was_training:
            self.model.train()
        return out

    def lanes(self) -> int:
        return self.workers if self.model.device.type == "cpu" else 1

    def init_lane(self) -> None:
        import torch

        torch.set_num_threads(1)

    def _workers_pool(self):
        """Threads that score batches side by side, each set to one torch thread once, when it starts. On
        small matrices two single-threaded forwards beat one two-threaded forward by 10-15%
        (docs/benchmarks.md). torch's thread count is per OS thread, so no caller's threads are changed."""
        if self.workers <= 1 or self.model.device.type != "cpu":
            return None
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            import torch

            self._pool = ThreadPoolExecutor(self.workers, initializer=torch.set_num_threads, initargs=(1,))
        return self._pool

    def save(self, out: Path) -> None:
        self.model.save_pretrained(out)
        self.tokenizer.save_pretrained(out)

    def meta(self) -> dict:
        return {"training": self.history}

    @staticmethod
    def describe(meta: dict) -> str:
        return f"encoder: `{meta['config']['model'].get('encoder')}`"


def bf16_linears(model) -> None:
    """Store the Linear layers' weights in bf16, in place, for bf16 autocast inference. Autocast casts them
    to bf16 on every call anyway (inference mode keeps no cast cache), so the logits are bit-identical, but
    each forward pass then reads half the bytes and writes no copies: weights stream from memory on every
    batch (MiniLM's encoder: 42 MB in fp32), which is most of a small batch's cost. A server's batch of 8
    sentences: ~10% faster (docs/benchmarks.md). Embeddings and LayerNorms stay fp32."""
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            module.to(torch.bfloat16)


def quantize_int8(model, per_channel: bool = True):
    """Dynamic int8 quantisation of the Linear layers (weights int8, activations quantised per batch).
    Per-channel weight scales: on the default model they keep validation macro-F1 within 0.2 points of fp32,
    where per-tensor scales lost 1.7 points (docs/benchmarks.md)."""
    import torch

    q = torch.ao.quantization
    qconfig = {torch.nn.Linear: q.per_channel_dynamic_qconfig} if per_channel else {torch.nn.Linear}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation notice
        return q.quantize_dynamic(model, qconfig, dtype=torch.qint8)
