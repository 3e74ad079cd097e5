"""The Qt-free core: import, models, index, mining, store, groups, explain, training."""
