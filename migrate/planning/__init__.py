"""The planner's steps, one module each, called in this order by ``migrate.plan.Planner``:

selection (which services become containers) → volumes → secrets → user → files → packages →
command → ports → healthcheck → localhost (clients that reach a sibling as localhost) → deploy →
jobs. Each step reads the inventory and the graph through ``PlanContext`` and asks the service's
server kind (``migrate.kinds``) for what evidence cannot tell; none compares kind names.
"""
