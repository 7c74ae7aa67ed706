"""Command line: ``python -m exercises {validate,spellcheck,audio,export-bank}``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from . import audio, export, loader, spelling, validate

ROOT_HELP = "content root (default: the package's exercises/content)"


def _validate(args: argparse.Namespace) -> int:
    content, problems = validate.validate(args.root, counts=args.counts)
    for problem in problems:
        print(problem)
    print(validate.format_table(content))
    print(f"{len(problems)} error(s)" if problems else "content OK")
    return 1 if problems else 0


def _spellcheck(args: argparse.Namespace) -> int:
    if not spelling.hunspell_available():
        print("hunspell or its et_EE dictionary is not installed (Debian: hunspell myspell-et)", file=sys.stderr)
        return 2
    content = loader.load_content(args.root)
    unknown = spelling.spellcheck(content)
    for word in unknown:
        print(f"{word.word}\t{word.count}\t{word.path}:{word.line}")
    print(f"{len(unknown)} unknown word(s)" if unknown else "all Estonian words known or allowlisted")
    return 1 if unknown else 0


def _audio(args: argparse.Namespace) -> int:
    if not audio.espeak_available():
        print("espeak-ng is not installed (Debian: espeak-ng)", file=sys.stderr)
        return 2
    content = loader.load_content(args.root)
    cache = Path(args.cache) if args.cache else audio.default_cache_dir()
    passages = audio.listening_passages(content)
    if args.only:
        passages = [p for p in passages if p.id == args.only]
        if not passages:
            print(f"no listening passage with id {args.only!r}", file=sys.stderr)
            return 1
    made = 0
    for passage in passages:
        if audio.audio_path(passage.id, cache).exists() and not args.force:
            continue
        print(audio.synthesise(passage, cache, force=args.force))
        made += 1
    print(f"{made} file(s) synthesised, {len(passages) - made} already present in {cache}")
    return 0


def _export_bank(args: argparse.Namespace) -> int:
    content = loader.load_content(args.root)
    bank = export.build_bank(content)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        json.dump(bank, stream, ensure_ascii=False, indent=2)
        stream.write("\n")
    os.replace(temporary, out)
    print(f"{len(bank['items'])} placement items written to {out} (version {bank['version'][:12]})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``python -m exercises``."""
    parser = argparse.ArgumentParser(
        prog="python -m exercises",
        description="LangJourney exercise content: validate it, check its Estonian spelling, "
                    "synthesise listening audio and export the placement bank.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser(
        "validate", help="check every content file and print the item counts",
        description="Load every YAML file under the content root (placement, practice, selfassessment), "
                    "print every error as path:line: message and a table of item counts per "
                    "purpose, level and skill. Exits 1 on any error.")
    p.add_argument("--root", help=ROOT_HELP)
    p.add_argument("--no-counts", dest="counts", action="store_false",
                   help="skip the minimum item counts (placement >= 30 per level and skill, practice >= 300)")
    p.set_defaults(func=_validate)

    p = commands.add_parser(
        "spellcheck", help="list Estonian words unknown to hunspell et_EE and the allowlists",
        description="Run every Estonian text through hunspell's et_EE dictionary; print each unknown "
                    "word that no allowlist/*.txt lists, with its count and first path:line. "
                    "Exits 1 if any word is unknown, 2 if hunspell or et_EE is missing.")
    p.add_argument("--root", help=ROOT_HELP)
    p.set_defaults(func=_spellcheck)

    p = commands.add_parser(
        "audio", help="synthesise missing listening audio with espeak-ng",
        description="Synthesise <passage id>.wav for every passage used by a listening item that has "
                    "no audio yet, with espeak-ng's Estonian voice; dialogue speaker names are not spoken. "
                    "Existing files are kept. Exits 2 if espeak-ng is missing.")
    p.add_argument("--root", help=ROOT_HELP)
    p.add_argument("--cache", help=f"audio folder (default: ${audio.ENV_VAR}, else instance/audio)")
    p.add_argument("--only", metavar="ID", help="synthesise only the passage with this id")
    p.add_argument("--force", action="store_true", help="synthesise again even if the file exists")
    p.set_defaults(func=_audio)

    p = commands.add_parser(
        "export-bank", help="write the placement bank JSON for the placement engine",
        description="Write the placement items (id, a, b, c, skill, level, enemies) with the cut scores, "
                    "base level and a SHA-256 version of the content as JSON.")
    p.add_argument("--root", help=ROOT_HELP)
    p.add_argument("--out", required=True, help="where to write the bank JSON")
    p.set_defaults(func=_export_bank)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: sys.argv) and return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except loader.ContentError as error:
        print(error, file=sys.stderr)
        print("the content has errors: run `python -m exercises validate`", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
