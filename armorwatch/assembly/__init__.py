"""Assembly: the pipeline built from its config, apart from the command line.

- ``settings``: the one config model (``PipelineConfig``: ``[collect]``, ``[process]``,
  ``[run]``, ``[report]``) and its one loader, ``load``;
- ``sources``: the one registry of source kinds (``collect``'s and ``run``'s words);
- ``daemons``: ``collect`` and ``process``, the long-running halves, and the observers
  both show acknowledged envelopes to (alerting, metrics);
- ``oneshot``: ``run_once``, files read once into the store.

The commands in ``armorwatch.commands`` parse arguments, apply flags to a table and call
these; nothing here reads ``argparse``. Submodules are imported by name, so a command
loads only what it builds.
"""
