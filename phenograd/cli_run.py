"""How a command ends: the exit codes every command shares, and the torchrun wrapper of the training commands.

Imported by cli.py and the command modules (cli_model.py, cli_pretrain.py); it imports none of them, so no
module of the command line imports itself back.
"""

from __future__ import annotations

from phenograd.core.errors import InputError, PhenogradError

EXIT_BAD_INPUT = 2
EXIT_UNAVAILABLE = 3


def run_distributed(command, args) -> int:
    """Run a training command, command(args, device). Launched by torchrun, join its process group
    first (gloo on CPU, NCCL with cuda:LOCAL_RANK); errors every rank meets are then reported by
    rank 0 only, the others exit with the same code. Otherwise device is args.device as given."""
    from phenograd.surrogate import distributed

    device = distributed.init(args.device) if distributed.launched() else args.device
    try:
        return command(args, device)
    except PhenogradError as exc:
        if distributed.is_main():
            raise
        # Every rank meets the same bad input; rank 0 says so, the others only exit with its code.
        raise SystemExit(EXIT_BAD_INPUT if isinstance(exc, InputError) else EXIT_UNAVAILABLE) from None
    finally:
        distributed.cleanup()
