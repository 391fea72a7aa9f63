"""The batches a scheduler starts (`ep batch …`) and the runner they share.

Each batch is defined once in ep.batches.spine; its module adds the steps and registers
the Batch with ep.batches.runner.register; ep.batches.runner.load_batches imports them all.
This package's own import stays light: ep.config reads the spine.
"""
