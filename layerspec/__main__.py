"""``python -m layerspec``: the same as the ``layerspec`` command."""

from .cli import main

main(prog_name="layerspec")
