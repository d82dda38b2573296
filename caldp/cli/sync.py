"""caldp-sync: bring processed datasets from an output tree (S3) down to a local directory.

    caldp-sync OUTPUT_URI LOCAL_DIR [--dataset IPPPSSOOT ...]

As CALCLOUD's downloader does: every dataset whose message is in
``messages/datasets-processed/`` has its ``data/<instrument>/<ipppssoot>/`` tree (products,
``env/``, ``logs/``, ``previews/``) mirrored into ``LOCAL_DIR`` with the same layout, each
file written under a temporary name and checked against the size the store lists; then the
message moves to ``dataset-synced`` (in the output tree, and a copy is written under
``LOCAL_DIR/messages/``). Running it again is harmless: synced datasets are no longer
processed, and files already present with the right size are not fetched again. Exit
status 0 when every dataset synced; otherwise S3_DOWNLOAD_ERROR (26) for S3 outputs,
GENERIC_ERROR (1) for others, after trying all of them.
"""

from __future__ import annotations

import argparse
import logging
import sys

from ..datasets import Dataset
from ..exit_codes import ExitCode
from ..messages import PROCESSED, SYNCED, MessageTree, iso_utc
from ..storage import Store, open_store, split_uri
from ..sysexit import describe
from .common import CONSOLE, finish, setup_logging

log = logging.getLogger("caldp.sync")


def remote_size(store, key: str) -> int:
    """The size of `key` as the store lists it."""
    if isinstance(store, Store):
        return store.path(key).stat().st_size
    return int(store.info(key)["size"])


def sync_dataset(store, tree: MessageTree, dataset: str, local: Store) -> int:
    """Mirror one processed dataset into `local`, then mark it synced; returns files fetched."""
    message = tree.read(dataset)
    if message is None or message.state != PROCESSED:
        log.info("%s: no longer processed (%s); skipping", dataset, message.state if message else "no message")
        return 0
    prefix = f"data/{Dataset.parse(dataset).instrument}/{dataset}"
    keys = store.list(prefix)
    missing = sorted(set(message.metadata.get("products") or []) - set(keys))
    if missing:
        raise FileNotFoundError(f"{len(missing)} product(s) named in the message are not in the output: "
                                f"{', '.join(missing[:5])}")
    if not keys:
        raise FileNotFoundError(f"nothing under {store.uri}/{prefix}")
    fetched = skipped = nbytes = 0
    for key in keys:
        size = remote_size(store, key)
        dest = local.path(key)
        if dest.is_file() and dest.stat().st_size == size:
            skipped += 1
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.sync.part")
        try:
            store.get_file(key, tmp)
            got = tmp.stat().st_size
            if got != size:
                raise OSError(f"{key}: fetched {got} bytes, the output lists {size}")
            tmp.replace(dest)
        finally:
            tmp.unlink(missing_ok=True)
        fetched += 1
        nbytes += size
    meta = dict(synced=iso_utc(), synced_to=str(local.root), synced_files=len(keys))
    synced = tree.set_state(dataset, SYNCED, **meta)
    MessageTree(local).set_state(dataset, SYNCED, **{k: v for k, v in synced.metadata.items()
                                                     if k not in ("dataset", "state", "history")})
    log.info("%s: synced %d files (%d fetched, %.1f MB; %d already here) to %s", dataset, len(keys), fetched,
             nbytes / 1e6, skipped, local.root / prefix, extra=CONSOLE)
    return fetched


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="caldp-sync", description=__doc__.split("\n\n")[0])
    p.add_argument("output_uri", help="the output tree caldp-process wrote: s3://bucket/prefix or file:<dir>")
    p.add_argument("local_dir", help="local directory to mirror processed datasets into")
    p.add_argument("--dataset", action="append", default=None, help="only this dataset (repeatable)")
    p.add_argument("-v", "--verbose", action="count", default=0, help="show the whole log live")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        scheme = split_uri(args.output_uri)[0]
        store = open_store(args.output_uri)
    except ValueError as exc:
        return finish(ExitCode.CMDLINE_ERROR, str(exc))
    fail_code = ExitCode.S3_DOWNLOAD_ERROR if scheme == "s3" else ExitCode.GENERIC_ERROR
    local = Store(args.local_dir)
    tree = MessageTree(store)
    try:
        local.check_writable()
        processed = tree.datasets_in(PROCESSED)
    except Exception as exc:  # noqa: BLE001 -- reported as the exit status
        return finish(fail_code, describe(exc))
    wanted = [d.lower() for d in args.dataset] if args.dataset else None
    todo = [d for d in processed if wanted is None or d in wanted]
    log.info("%d processed dataset(s) in %s; syncing %d to %s", len(processed), store.uri, len(todo), local.root,
             extra=CONSOLE)
    failed = []
    for dataset in todo:
        try:
            sync_dataset(store, tree, dataset, local)
        except Exception as exc:  # noqa: BLE001 -- one bad dataset must not stop the others
            log.error("%s: sync failed: %s", dataset, describe(exc))
            failed.append(dataset)
    if failed:
        return finish(fail_code, f"{len(failed)} of {len(todo)} dataset(s) not synced: {', '.join(failed)}")
    if todo:
        print(f"caldp-report {local.root}   # builds report.html from the synced tree", file=sys.stderr)
    return finish(ExitCode.SUCCESS)


if __name__ == "__main__":
    sys.exit(main())
