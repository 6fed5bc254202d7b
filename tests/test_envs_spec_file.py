"""`--env-spec FILE` TOML descriptions: overrides, custom make options, one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lesr_local.envs import env_max_episode_steps, get_env_info, make_env, sample_states
from lesr_local.errors import BadInput

SPECS = Path(__file__).parent / "data" / "env_specs"


def test_spec_file_names_the_env_and_overrides_dims() -> None:
    path = str(SPECS / "double_pendulum.toml")
    info = get_env_info("ignored-when-the-file-names-an-id", env_spec=path)
    assert info.env_id == "MyDoublePendulum" and info.gym_id == "InvertedDoublePendulum-v5"
    assert info.name == "Double pendulum on a cart"
    assert info.task == "Keep both poles of the double pendulum upright by pushing the cart."
    assert info.state_dim == 9 == len(info.dims)
    assert info.dims[0].description == "cart position on the rail" and info.dims[0].unit == "m"
    assert info.dims[8].description.startswith("constraint force") and info.dims[8].unit == "N"
    assert "sine of the angle" in info.dims[1].description  # the rest stays automatic
    env = make_env("whatever", seed=0, env_spec=path)
    try:
        assert env.reset()[0].shape == (9,)
    finally:
        env.close()
    assert sample_states("x", 10, env_spec=path).shape == (10, 9)
    assert env_max_episode_steps("x", env_spec=path) == 1000


def test_spec_file_builds_a_catalogued_env_differently() -> None:
    path = str(SPECS / "ant_no_contacts.toml")
    info = get_env_info("", env_spec=path)
    assert info.env_id == "AntNoContacts" and info.gym_id == "Ant-v5"  # old id mapped
    assert info.state_dim == 27 and not info.catalogued
    env = make_env("", env_spec=path)
    try:
        obs, _ = env.reset(seed=0)
        assert obs.shape == (27,) and obs.dtype == np.float64
    finally:
        env.close()


def test_spec_file_without_id_uses_the_given_env_id(tmp_path: Path) -> None:
    path = tmp_path / "reacher.toml"
    path.write_text('task = "Touch the red dot."\n[[dims]]\nindex = 9\nunit = "metre"\n')
    info = get_env_info("Reacher-v5", env_spec=str(path))
    assert info.env_id == "Reacher-v5" and info.task == "Touch the red dot."
    assert info.dims[9].unit == "metre" and "offset" in info.dims[9].description


@pytest.mark.parametrize(("name", "needle"), [
    ("bad_index.toml", "out of range"),
    ("bad_metric.toml", "metric"),
    ("unknown_key.toml", "descripton"),
    ("not_registered.toml", "not registered"),
    ("missing.toml", "not found"),
])
def test_bad_spec_files_are_one_line_bad_input(name: str, needle: str) -> None:
    with pytest.raises(BadInput) as err:
        get_env_info("Reacher-v5", env_spec=str(SPECS / name))
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_invalid_toml_and_wrong_state_dim(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("gym_id = \n")
    with pytest.raises(BadInput, match="not valid TOML"):
        get_env_info("", env_spec=str(broken))
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('gym_id = "Reacher-v5"\nstate_dim = 12\n')
    with pytest.raises(BadInput, match="state_dim = 12"):
        get_env_info("", env_spec=str(wrong))
    duplicate = tmp_path / "dup.toml"
    duplicate.write_text('gym_id = "Reacher-v5"\n[[dims]]\nindex = 1\nunit = "a"\n[[dims]]\nindex = 1\nunit = "b"\n')
    with pytest.raises(BadInput, match="twice"):
        get_env_info("", env_spec=str(duplicate))
