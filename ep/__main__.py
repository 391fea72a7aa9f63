"""The `ep` command's entry point (setup.cfg console_scripts; also `python -m ep`)."""

import gc


def main() -> None:
    """Run the `ep` command (ep.cli), started cheaply.

    EP's modules are imported with the cyclic garbage collector off, and what they made is
    then frozen (gc.freeze): none of it is garbage, yet collections during the imports and
    the full one at exit would walk all of it, about 0.1 s of CPU for every `ep check` a
    monitor runs each minute. Objects made later are collected as usual.
    """
    gc.disable()
    # imported here, after gc.disable(), which is the point: the imports are what it spares
    from ep.cli import cli

    gc.freeze()
    gc.enable()
    cli()


if __name__ == "__main__":
    main()
