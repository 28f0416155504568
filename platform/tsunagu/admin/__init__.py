"""Administration (layer 4): the definitions API today; the designers of issue #18 grow here."""
