"""``python -m levil_edge ...`` runs the levil-edge CLI (the same as the ``levil-edge`` script). It
exists so that torchrun can start the CLI as a module:
``torchrun --standalone --nproc_per_node 2 -m levil_edge distill ...``."""

from levil_edge.cli.app import main

if __name__ == "__main__":
    main()
