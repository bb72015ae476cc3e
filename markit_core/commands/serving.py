"""``serve-config``: the MLServer model repository for MarkIt's registered models.

::

    python -m markit_core serve-config DIR [--model NAME[@VERSION] ...] [--trained]
        [--host 127.0.0.1] [--http-port 8080] [--grpc-port 8081] [--device cuda|cpu]
    mlserver start DIR        # from the repository root, or with markit installed

Without ``--model`` every registered version whose weights this host has is served
(external weights from ``MARKIT_WEIGHTS_DIR``); ``--trained`` adds the versions MarkIt
trained, read from the configured database. The app then needs
``MARKIT_INFERENCE_URL=http://HOST:HTTP_PORT``.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serve-config",
        help="write an MLServer model repository that serves MarkIt's models",
        description="Writes DIR/settings.json and one DIR/<model>-<version>/"
        "model-settings.json per version; `mlserver start DIR` then serves them on the "
        "Open Inference Protocol (KServe v2). Listens on 127.0.0.1 unless --host says else.",
    )
    p.add_argument("dir", type=Path, help="folder to write (created if missing)")
    p.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME[@VERSION]",
        help="serve only these (repeatable; default: all whose weights are here)",
    )
    p.add_argument("--trained", action="store_true", help="add versions trained by MarkIt")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--http-port", type=int, default=8080)
    p.add_argument("--grpc-port", type=int, default=8081)
    p.add_argument("--device", choices=("", "cuda", "cpu"), default="", help="default: auto")
    p.set_defaults(func=run_serve_config)


def _trained() -> list:
    from sqlmodel import select

    from markit_core.commands.common import db_session
    from markit_core.inference import registry
    from markit_core.inference.service import register_trained_versions
    from markit_core.inference.serving.config import ServedModel, trained_fields
    from markit_core.models import ModelVersion

    with db_session() as (s, settings):
        register_trained_versions(s, None, settings)
        rows = s.exec(select(ModelVersion)).all()
        return [
            ServedModel(registry.entry(r.model_name, r.version), trained_fields(r, settings))
            for r in rows
        ]


def run_serve_config(args: argparse.Namespace) -> int:
    from markit_core.config import load_settings
    from markit_core.inference.serving.config import select_models, write_serve_config

    settings = load_settings()
    weights_dir = settings.resolved_weights_dir
    trained = _trained() if args.trained else []
    served, skipped = select_models(args.model, weights_dir, trained)
    written = write_serve_config(
        args.dir,
        served,
        weights_dir=weights_dir,
        host=args.host,
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        device=args.device,
    )
    for s in served:
        print(f"serving {s.entry.info.key}")
    for reason in skipped:
        print(f"not serving {reason}")
    print(f"wrote {len(written)} files under {args.dir}")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"note: the server will listen on {args.host}: put TLS and access control in front")
    print(
        f"start: mlserver start {args.dir}  then  MARKIT_INFERENCE_URL=http://{args.host}:"
        f"{args.http_port}"
    )
    return 0
