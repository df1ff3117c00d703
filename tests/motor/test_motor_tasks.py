"""ReachTask and FlipFlopTask: shapes, epochs, minimum-jerk targets, seeding, bad timing."""

import numpy as np
import pytest

from engram.motor.tasks import DEFAULT_REACH_TIMING, FlipFlopTask, ReachTask, minimum_jerk


def test_minimum_jerk_profile_endpoints_and_bell_shape():
    s = np.linspace(0, 1, 1001)
    p, dp = minimum_jerk(s)
    assert p[0] == 0 and p[-1] == pytest.approx(1.0, abs=1e-15)
    assert dp[0] == 0 and dp[-1] == pytest.approx(0.0, abs=1e-12)
    assert dp.max() == pytest.approx(1.875) and s[np.argmax(dp)] == pytest.approx(0.5)
    np.testing.assert_allclose(np.gradient(p, s), dp, atol=1e-5)
    np.testing.assert_allclose(dp, dp[::-1], atol=1e-12)  # symmetric bell
    np.testing.assert_array_equal(minimum_jerk(np.array([-1.0, 2.0]))[0], [0.0, 1.0])


def test_shapes_epochs_and_dtypes():
    task = ReachTask(seed=0)
    batch = task.sample(32)
    n_time = task.n_steps
    assert n_time == (200 + 600 + 150 + 500 + 200) // 10
    assert batch["inputs"].shape == (32, n_time, 3) and batch["inputs"].dtype == np.float32
    assert batch["targets"].shape == (32, n_time, 4) == batch["mask"].shape
    assert task.output_names == ("x", "y", "vx", "vy")
    assert set(np.unique(batch["condition"])) <= set(range(8))
    ok = ~batch["is_catch"]
    assert np.all(batch["target_on"] == 20)
    np.testing.assert_array_equal(batch["go"][ok] - batch["target_on"][ok], batch["delay"][ok] / 10)
    assert np.all((batch["delay"] >= 300) & (batch["delay"] <= 600))
    np.testing.assert_array_equal(batch["movement_onset"][ok] - batch["go"][ok], 15)
    np.testing.assert_array_equal(batch["movement_end"][ok] - batch["movement_onset"][ok], 50)
    assert np.all(batch["go"][~ok] == -1) and np.all(batch["movement_onset"][~ok] == -1)
    assert np.all(batch["trial_end"] <= n_time)


def test_targets_follow_minimum_jerk_to_the_right_target():
    task = ReachTask(n_targets=8, radius=2.0, seed=0)
    batch = task.sample(8, conditions=range(8), delays=450, catch=False)
    onset, end = batch["movement_onset"][0], batch["movement_end"][0]
    pos, vel = batch["targets"][..., :2], batch["targets"][..., 2:]
    np.testing.assert_allclose(pos[:, : onset + 1], 0.0, atol=1e-7)
    np.testing.assert_allclose(
        pos[:, end:],
        np.broadcast_to(task.target_positions[:, None, :], pos[:, end:].shape),
        atol=1e-6,
    )
    speed = np.linalg.norm(vel, axis=-1)
    peak = 1.875 * 2.0 / 0.5  # 1.875 * distance / duration in seconds
    assert speed.max() == pytest.approx(peak, rel=1e-5)
    assert np.argmax(speed[0]) == onset + 25  # peak at mid-movement
    # velocity is the time derivative of position (units per second)
    np.testing.assert_allclose(np.gradient(pos[0, :, 0], 0.01), vel[0, :, 0], atol=0.02)
    # inputs: target shown from target onset, go cue as a step from the go step
    inputs = batch["inputs"]
    np.testing.assert_allclose(inputs[:, :20, :2], 0.0)
    np.testing.assert_allclose(
        inputs[:, 20:, :2],
        np.broadcast_to(task.target_positions[:, None, :], inputs[:, 20:, :2].shape),
        atol=1e-6,
    )
    go = batch["go"][0]
    assert go == 20 + 45
    assert np.all(inputs[:, :go, 2] == 0) and np.all(inputs[:, go:, 2] == 1)


def test_catch_trials_have_no_go_cue_and_no_movement():
    task = ReachTask(catch_fraction=0.5, seed=1)
    batch = task.sample(400)
    catch = batch["is_catch"]
    assert 0.4 < catch.mean() < 0.6
    assert np.all(batch["inputs"][catch, :, 2] == 0)
    assert np.all(batch["targets"][catch] == 0)
    assert np.any(batch["inputs"][catch, :, :2] != 0)  # the target is still shown
    assert not ReachTask(catch_fraction=0.0, seed=0).sample(200)["is_catch"].any()


def test_mask_covers_the_trial_and_not_the_padding():
    batch = ReachTask(seed=2).sample(64)
    steps = np.arange(batch["mask"].shape[1])
    expected = steps[None, :] < batch["trial_end"][:, None]
    np.testing.assert_array_equal(batch["mask"][..., 0], expected)
    assert (batch["mask"] == 0).any()  # short delays leave padding


def test_go_pulse_and_input_noise():
    task = ReachTask(go_cue="pulse", timing={"go_pulse": 50}, seed=0)
    batch = task.sample(4, catch=False)
    go = batch["inputs"][..., 2]
    np.testing.assert_array_equal(go.sum(axis=1), 5)
    noisy = ReachTask(input_noise=0.1, seed=0).sample(64, rng=3)
    clean = ReachTask(seed=0).sample(64, rng=3)
    # same trials (noise is drawn after the trial variables), noise of the requested size
    np.testing.assert_array_equal(noisy["condition"], clean["condition"])
    assert np.std(noisy["inputs"] - clean["inputs"]) == pytest.approx(0.1, rel=0.05)


def test_muscle_outputs_are_a_fixed_linear_map_of_kinematics():
    task = ReachTask(outputs=("position", "velocity", "muscles"), n_muscles=6, seed=0)
    batch = task.sample(8)
    kin, muscles = batch["targets"][..., :4], batch["targets"][..., 4:]
    assert muscles.shape[-1] == 6 and task.output_names[-1] == "muscle_5"
    np.testing.assert_allclose(muscles, kin @ task.muscle_map, atol=1e-5)
    np.testing.assert_array_equal(
        task.muscle_map, ReachTask(outputs=("muscles",), n_muscles=6).muscle_map
    )


def test_seeding_is_reproducible_and_config_round_trips():
    a = ReachTask(seed=5).sample(16)
    b = ReachTask(seed=5).sample(16)
    c = ReachTask(seed=6).sample(16)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["inputs"], c["inputs"])
    task = ReachTask(n_targets=12, timing={"delay": 400}, outputs=("velocity",), seed=0)
    clone = ReachTask(**task.get_config())
    for key, value in task.sample(8, rng=1).items():
        np.testing.assert_array_equal(value, clone.sample(8, rng=1)[key])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"timing": {"movement": -100}}, r"timing\['movement'\] = -100 is negative"),
        (
            {"timing": {"reaction": 5}},
            r"timing\['reaction'\] = 5 ms is shorter than one step "
            r"\(dt = 10 ms\).*Use 0 to skip",
        ),
        ({"timing": {"fixation": 100, "dt": 150}}, r"timing\['fixation'\] = 100 ms is shorter"),
        ({"timing": {"delay": (600, 300)}}, r"timing\['delay'\] = \(600, 300\) has min > max"),
        ({"timing": {"delay": (-10, 300)}}, r"timing\['delay'\] = -10 is negative"),
        ({"timing": {"movement": 10}}, r"timing\['movement'\] = 10 is under two steps"),
        ({"timing": {"dt": 0}}, r"timing\['dt'\] = 0 is zero"),
        ({"timing": {"dealy": 300}}, r"Unknown timing key 'dealy'. Did you mean 'delay'\?"),
        ({"n_targets": 1}, r"n_targets must be >= 2 .* Got 1 instead"),
        ({"outputs": ("muscles",)}, r"n_muscles is 0"),
        ({"outputs": ("force",)}, r"each entry of outputs must be one of"),
        ({"catch_fraction": 1.5}, r"catch_fraction must be in \[0, 1\)"),
    ],
)
def test_bad_settings_raise_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ReachTask(**kwargs)


def test_bad_sample_overrides_raise():
    task = ReachTask(seed=0)
    with pytest.raises(ValueError, match=r"conditions must be target indices in \[0, 8\)"):
        task.sample(2, conditions=[0, 8])
    with pytest.raises(ValueError, match="delays must lie between 10 ms and the longest"):
        task.sample(2, delays=900)
    with pytest.raises(TypeError, match="timing\\['delay'\\] must be a number"):
        ReachTask(timing={"delay": (1, 2, 3)})
    assert set(DEFAULT_REACH_TIMING) == {
        "dt",
        "fixation",
        "delay",
        "reaction",
        "movement",
        "hold",
        "go_pulse",
    }


def test_flip_flop_targets_hold_the_last_pulse():
    task = FlipFlopTask(n_bits=3, n_steps=200, pulse_prob=0.05, seed=0)
    batch = task.sample(8)
    inputs, targets, mask = batch["inputs"], batch["targets"], batch["mask"]
    assert inputs.shape == targets.shape == mask.shape == (8, 200, 3)
    assert set(np.unique(inputs)) <= {-1.0, 0.0, 1.0}
    for b in range(8):
        for k in range(3):
            state = 0.0
            for t in range(200):
                if inputs[b, t, k] != 0:
                    state = inputs[b, t, k]
                assert targets[b, t, k] == state
                assert mask[b, t, k] == (state != 0)
    again = FlipFlopTask(n_bits=3, n_steps=200, pulse_prob=0.05, seed=0).sample(8)
    np.testing.assert_array_equal(again["inputs"], inputs)
    noisy = FlipFlopTask(input_noise=0.2, seed=0).sample(4)
    assert np.std(noisy["inputs"] - FlipFlopTask(seed=0).sample(4)["inputs"]) > 0.15
    with pytest.raises(ValueError, match="pulse_prob must be in"):
        FlipFlopTask(pulse_prob=1.0)
