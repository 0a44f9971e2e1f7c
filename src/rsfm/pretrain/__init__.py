"""MAE pretraining with DeepSpeed: shard loader, training engine, launch (1 process to many nodes), export."""
