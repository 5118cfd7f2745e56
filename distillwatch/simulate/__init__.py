"""A synthetic world for distillwatch: legitimate populations, four distillation campaigns,
noise, intel and labels, generated Spark-natively and deterministically from one seed.

``world.build_world`` returns the DataFrames; ``jobs.simulate`` writes them.
"""
