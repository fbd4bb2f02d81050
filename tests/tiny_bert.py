"""A tiny BERT (2 layers, hidden size 32, a small WordPiece vocabulary), built offline in about a second.

Used as the encoder in test configs so that train -> predict -> evaluate runs in seconds.
Run as a script to build one into a folder: python tests/tiny_bert.py build/tiny-bert
"""

from __future__ import annotations

import string
import sys
from pathlib import Path

WORDS = """the a an of to in and that is will be for on with by as at from it this we our not are was has have
they their its said says would could can may new more than no against about after before over into
threat threats missile missiles attack attacks drone drones air defence defense nuclear cyber border
security military forces army navy troops ministry minister government president secretary general
nato russia china iran allies alliance deploy deployment buy purchase sanctions exercise exercises budget
fund funding agree agreed announce announced plan measures response strengthen protect safe calm
restraint dialogue talks escalate escalation danger dangerous risk warning warned capability capabilities
reassure reassured public citizens no panic contained imminent press conference reporters told question
home news editing reporting by meeting thursday monday tuesday wednesday friday""".split()


def build(path: str | Path) -> Path:
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *[f"##{c}" for c in chars], *WORDS]
    vocab = list(dict.fromkeys(vocab))
    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)
    tokenizer.save_pretrained(path)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    import torch

    torch.manual_seed(0)
    # Saved as a bare encoder (like a pretrained checkpoint): the classification head is made at training.
    BertForSequenceClassification(config).bert.save_pretrained(path)
    return path


if __name__ == "__main__":
    print(build(sys.argv[1] if len(sys.argv) > 1 else "build/tiny-bert"))
