"""Derived tables: rebuilt whole from other models after their syncs (Dagster assets downstream of
them, or `manifold derive`): CRM links of messages (`links/*.yaml`) and calendar conflicts."""
