"""Application layer: CLI, configs → objects, data, Lightning modules, experiment runners."""
