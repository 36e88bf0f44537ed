"""The tiny suite the runner, command-line, scale-out and bad-input tests share.

The synthetic ocean at 10° with 2 train, 1 val and 1 test years, 2 samples per
cell: small enough to run a few cells in seconds.
"""

#: The synthetic dataset's parameters in the tiny suite.
TINY_DATASET = {"resolution": 10.0, "train_years": 2, "val_years": 1, "test_years": 1}


def tiny_suite(methods: list[str | tuple[str, str]], missing_rates: list[float],
               seeds: list[int] | None = None, dataset_label: str | None = None) -> str:
    """Suite TOML text named "tiny" on :data:`TINY_DATASET`.

    ``methods`` are method names, or (name, label) pairs; ``seeds`` and
    ``dataset_label`` are left out of the text (the defaults) when None.
    """
    lines = ['name = "tiny"', "samples = 2"]
    if seeds is not None:
        lines.append(f"seeds = {list(seeds)}")
    lines += [f"missing_rates = {list(missing_rates)}", "[[datasets]]", 'name = "synthetic"']
    if dataset_label is not None:
        lines.append(f'label = "{dataset_label}"')
    lines += [f"{key} = {value}" for key, value in TINY_DATASET.items()]
    for method in methods:
        name, label = (method, None) if isinstance(method, str) else method
        lines += ["[[methods]]", f'name = "{name}"'] + ([f'label = "{label}"'] if label else [])
    return "\n" + "\n".join(lines) + "\n"
