"""A synthetic world for distillwatch: legitimate populations, four distillation campaigns,
noise, intel and labels, generated Spark-natively and deterministically from one seed.

``world.build_world`` returns the DataFrames; ``writer.simulate`` writes them (landing and
truth); ``settings`` holds the default world (``conf/simulate/world.yaml``). The package
depends on the landing contract (docs/data-contract.md) and on no pipeline, model or job.
"""
