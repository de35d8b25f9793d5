"""``python -m levil_edge.train distill ...`` runs the levil-edge CLI; it exists so that torchrun can
start it as a module: ``torchrun --standalone --nproc_per_node 2 -m levil_edge.train distill ...``."""

from levil_edge.cli.app import main

if __name__ == "__main__":
    main()
