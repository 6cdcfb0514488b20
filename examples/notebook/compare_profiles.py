# %% [markdown]
# # Compare two profiles and the runs made with them
#
# A notebook as a plain script (`# %%` cells: VS Code, Jupytext, Spyder and PyCharm run
# them one by one; `python compare_profiles.py` runs them all). It runs nothing: it loads
# two profiles of `examples/operations/run_profiles/molcfg.yaml`, shows how they differ,
# lists the runs under `./runs` (or `$MOLEXP_RUNS_DIR`) and, when pandas is installed,
# puts them in a DataFrame. Make some runs first, e.g. from the repository root:
#
#     molexp run examples/operations/run_profiles/train.py -p smoke
#     molexp run examples/operations/run_profiles/train.py -p large-batch -o optimizer.lr=0.05

# %%
import json
from pathlib import Path

import molexp

HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
CONFIG = HERE.parent / "operations" / "run_profiles" / "molcfg.yaml"

# %% Load two profiles, exactly as `molexp run -p ...` would resolve them
smoke = molexp.load_config("smoke", config=CONFIG)
large = molexp.load_config("large-batch", ["optimizer.lr=0.05"], config=CONFIG)

for name, config in (("smoke", smoke), ("large-batch", large)):
    print(f"{name:<12} {molexp.config_hash(config)[:12]}  {json.dumps(config)}")

# %% Which keys differ
differ = sorted(key for key in set(smoke) | set(large) if smoke.get(key) != large.get(key))
for key in differ:
    print(f"{key:<12} smoke={json.dumps(smoke.get(key))}  large-batch={json.dumps(large.get(key))}")

# %% The runs so far, newest first (the same list as `molexp runs`)
runs = molexp.runs(root=None)
for run in runs:
    result = run.results.get("Train")
    loss = result.get("loss") if isinstance(result, dict) else None
    print(f"{run.run_id}  {run.profile or '-':<12} {run.status:<10} loss={loss}")
if not runs:
    print("no runs yet (see the commands at the top)")

# %% A DataFrame, when pandas is installed (molexp does not need it)
try:
    import pandas as pd
except ImportError:
    pd = None
    print("pandas is not installed: skipping the DataFrame (pip install pandas)")

if pd is not None:
    df = pd.json_normalize([run.to_dict() for run in runs])
    columns = [c for c in ("run_id", "profile", "status", "config.epochs",
                           "config.batch_size", "config.optimizer.lr",
                           "results.Train.loss") if c in df.columns]
    print(df[columns].to_string(index=False) if len(df) else "empty DataFrame")
