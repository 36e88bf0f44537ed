"""Point observations: Argo and table readers, TEOS-10 depth, super-observations, OSE."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from reconbench.benchmark import ose
from reconbench.benchmark.gridded_guidance import GriddedGuidance
from reconbench.datasets.grid import Grid, regular_axes
from reconbench.datasets.points import (
    ObservationTable,
    depth_from_pressure,
    read_argo,
    read_observations,
    read_table,
)
from reconbench.datasets.superobs import profiles_on_levels, superobs
from reconbench.errors import InputError
from reconbench.methods.registry import make_method


# -- TEOS-10 ------------------------------------------------------------------------------
def test_depth_from_pressure_matches_gsw_documented_check_values():
    # the check values of gsw_z_from_p in the TEOS-10 GSW documentation: lat 4°, p in dbar
    p = np.array([10, 50, 125, 250, 600, 1000.0])
    z = np.array([-9.9445834469453, -49.7180897012550, -124.2726219409978,
                  -248.4700576548589, -595.8253480356214, -992.0919060719987])
    np.testing.assert_allclose(depth_from_pressure(p, np.full(6, 4.0)), -z, atol=1e-9)


# -- a hand-made Argo file ---------------------------------------------------------------
def _argo_file(path, temp, pres, temp_qc, mode, lat=(10.0, 20.0, 30.0), adjusted=None,
               drop=()):
    n_prof, n_lev = np.shape(temp)
    adj = np.asarray(temp if adjusted is None else adjusted, np.float32)
    data = {
        "TEMP": (("N_PROF", "N_LEVELS"), np.asarray(temp, np.float32)),
        "TEMP_QC": (("N_PROF", "N_LEVELS"), np.array(temp_qc, dtype="S1")),
        "PRES": (("N_PROF", "N_LEVELS"), np.asarray(pres, np.float32)),
        "PRES_QC": (("N_PROF", "N_LEVELS"), np.full((n_prof, n_lev), b"1", dtype="S1")),
        "TEMP_ADJUSTED": (("N_PROF", "N_LEVELS"), adj),
        "TEMP_ADJUSTED_QC": (("N_PROF", "N_LEVELS"), np.array(temp_qc, dtype="S1")),
        "PRES_ADJUSTED": (("N_PROF", "N_LEVELS"), np.asarray(pres, np.float32)),
        "PRES_ADJUSTED_QC": (("N_PROF", "N_LEVELS"), np.full((n_prof, n_lev), b"1", "S1")),
        "TEMP_ADJUSTED_ERROR": (("N_PROF", "N_LEVELS"), np.full((n_prof, n_lev), 0.01,
                                                                 np.float32)),
        "DATA_MODE": (("N_PROF",), np.array(list(mode), dtype="S1")),
        "PLATFORM_NUMBER": (("N_PROF",), np.array([b"1234567"] * n_prof)),
        "LATITUDE": (("N_PROF",), np.asarray(lat[:n_prof])),
        "LONGITUDE": (("N_PROF",), np.full(n_prof, -170.0)),
        "POSITION_QC": (("N_PROF",), np.full(n_prof, b"1", dtype="S1")),
        "JULD": (("N_PROF",), np.arange(n_prof) + 25000.5,
                 {"units": "days since 1950-01-01 00:00:00 UTC"}),
        "JULD_QC": (("N_PROF",), np.full(n_prof, b"1", dtype="S1")),
    }
    for name in drop:
        data.pop(name)
    ds = xr.Dataset(data)
    for name in ("TEMP", "PRES", "TEMP_ADJUSTED", "PRES_ADJUSTED", "TEMP_ADJUSTED_ERROR"):
        if name in ds:
            ds[name].encoding["_FillValue"] = np.float32(99999.0)
    ds.to_netcdf(path)
    return path


def test_argo_reader_takes_adjusted_values_by_data_mode_and_qc(tmp_path):
    temp = [[20.0, 15.0, np.nan], [21.0, 16.0, 10.0], [22.0, 17.0, 11.0]]
    pres = [[10.0, 100.0, np.nan], [10.0, 100.0, 500.0], [10.0, 100.0, 500.0]]
    qc = [[b"1", b"1", b" "], [b"1", b"4", b"2"], [b"1", b"1", b"1"]]
    adjusted = [[99.0, 99.0, np.nan], [31.0, 26.0, 20.0], [99.0, 99.0, 99.0]]
    path = _argo_file(tmp_path / "1234567_prof.nc", temp, pres, qc, "RDR", adjusted=adjusted)
    table = read_argo(path)
    d = table.data
    # profile 0 (R): raw values; profile 1 (D): adjusted, the QC-4 level dropped
    assert d.loc[d.profile == 0, "value"].tolist() == [20.0, 15.0]
    assert d.loc[d.profile == 1, "value"].tolist() == [31.0, 20.0]
    assert d.loc[d.profile == 2, "value"].tolist() == [22.0, 17.0, 11.0]
    assert table.dropped["points failing QC"] == 1
    np.testing.assert_allclose(d.loc[d.profile == 1, "error"], 0.01, rtol=1e-6)
    np.testing.assert_allclose(d["lon"], 190.0)
    lat = d["lat"].to_numpy()
    np.testing.assert_allclose(d["depth"], depth_from_pressure(
        np.array([10, 100, 10, 500, 10, 100, 500.0]), lat))
    assert str(d["time"].iloc[0])[:10] == "2018-06-13"  # JULD 25000.5 days since 1950
    assert table.platforms == ["1234567"]


def test_argo_descending_pressure_dropped_and_counted_or_an_error(tmp_path):
    temp = [[20.0, 15.0], [21.0, 16.0]]
    pres = [[10.0, 100.0], [100.0, 10.0]]
    qc = [[b"1", b"1"], [b"1", b"1"]]
    path = _argo_file(tmp_path / "p.nc", temp, pres, qc, "RR")
    table = read_argo(path)
    assert table.n_profiles == 1
    assert table.dropped["profiles with descending or duplicated pressure"] == 1
    with pytest.raises(InputError, match="p.nc.*descending or duplicated"):
        read_argo(path, on_bad_profile="error")


def test_argo_duplicated_pressure_dropped_and_counted_or_an_error(tmp_path):
    temp = [[20.0, 15.0, 10.0], [21.0, 16.0, 11.0]]
    pres = [[10.0, 100.0, 200.0], [10.0, 100.0, 100.0]]
    qc = [[b"1"] * 3, [b"1"] * 3]
    path = _argo_file(tmp_path / "dup.nc", temp, pres, qc, "RR")
    table = read_argo(path)
    assert table.n_profiles == 1 and len(table) == 3
    assert table.dropped["profiles with descending or duplicated pressure"] == 1
    with pytest.raises(InputError, match="dup.nc.*profile 1 .*descending or duplicated"):
        read_argo(path, on_bad_profile="error")


def test_argo_profile_whose_every_level_fails_qc_is_dropped_and_counted(tmp_path):
    temp, pres = [[20.0, 15.0], [21.0, 16.0]], [[10.0, 100.0], [10.0, 100.0]]
    path = _argo_file(tmp_path / "q.nc", temp, pres, [[b"1", b"1"], [b"4", b"3"]], "RR")
    table = read_argo(path)
    assert table.n_profiles == 1 and table.data["value"].tolist() == [20.0, 15.0]
    assert table.dropped["profiles with every level failing QC"] == 1
    assert table.dropped["points failing QC"] == 2


def test_argo_file_without_temp_or_all_failing_qc_is_one_clear_error(tmp_path):
    temp, pres = [[20.0, 15.0]], [[10.0, 100.0]]
    path = _argo_file(tmp_path / "nt.nc", temp, pres, [[b"1", b"1"]], "R", drop=("TEMP",))
    with pytest.raises(InputError, match="nt.nc.*TEMP"):
        read_argo(path)
    path = _argo_file(tmp_path / "np.nc", temp, pres, [[b"1", b"1"]], "R", drop=("PRES",))
    with pytest.raises(InputError, match="np.nc.*no variable.*PRES; expected"):
        read_argo(path)
    path = _argo_file(tmp_path / "bad.nc", temp, pres, [[b"4", b"4"]], "R")
    with pytest.raises(InputError, match="bad.nc.*no profile has a usable"):
        read_argo(path)


def test_real_argo_files_read(shared_data):
    table = read_observations(sorted((shared_data / "argo_profiles").glob("*_prof.nc")))
    d = table.data
    assert len(table.platforms) == 8 and table.n_profiles > 500
    assert d["lon"].between(0, 360).all() and d["lat"].between(-90, 90).all()
    assert (d["depth"] >= 0).all() and (d.groupby("profile")["depth"].diff().dropna() > 0).all()
    assert d["value"].between(-2.5, 40).all()
    assert table.dropped["points failing QC"] > 0
    lines = table.describe()
    assert any(line.startswith("dropped:") for line in lines)


# -- tables ----------------------------------------------------------------------------------
def _csv(tmp_path, **overrides):
    frame = pd.DataFrame({"time": ["2019-03-01T00:00", "2019-03-01T00:00", "2019-03-05"],
                          "lat": [10.0, 10.0, -5.0], "lon": [-20.0, -20.0, 100.0],
                          "depth": [5.0, 50.0, 5.0], "temp": [25.0, 20.0, 28.0],
                          "platform": ["a", "a", "b"]})
    for key, value in overrides.items():
        frame[key] = value
    path = tmp_path / "obs.csv"
    frame.to_csv(path, index=False)
    return path


def test_csv_table_with_column_mapping(tmp_path):
    table = read_table(_csv(tmp_path), columns={"value": "temp"})
    assert table.n_profiles == 2 and table.platforms == ["a", "b"]
    assert table.data["lon"].tolist() == [340.0, 340.0, 100.0]
    frame = pd.read_csv(_csv(tmp_path)).rename(columns={"temp": "value"})
    frame.to_parquet(tmp_path / "obs.parquet")
    parquet = read_observations(tmp_path / "obs.parquet")
    pd.testing.assert_frame_equal(parquet.data.drop(columns="source"),
                                  table.data.drop(columns="source"))


@pytest.mark.parametrize("overrides, match", [
    ({"lat": [10, 95, 0]}, "'lat' has latitudes outside ±90"),
    ({"depth": [5, -1, 5]}, "'depth' has negative depths"),
    ({"lon": ["1", "x", "3"]}, "'lon' has 1 non-numeric"),
])
def test_csv_bad_values_are_one_line_errors(tmp_path, overrides, match):
    with pytest.raises(InputError, match=match):
        read_table(_csv(tmp_path, **overrides), columns={"value": "temp"})


def test_csv_missing_column_is_named(tmp_path):
    with pytest.raises(InputError, match="obs.csv.*no column.*'value'"):
        read_table(_csv(tmp_path))


# -- super-observations ----------------------------------------------------------------------
def _table(rows) -> ObservationTable:
    frame = pd.DataFrame(rows, columns=["time", "lat", "lon", "depth", "value", "error",
                                        "platform", "profile"])
    frame["time"] = pd.to_datetime(frame["time"])
    frame["source"] = "hand"
    return ObservationTable(frame)


def _grid(depth=(10.0, 20.0, 40.0), resolution=10.0, land=None):
    lat, lon = regular_axes(resolution)
    ocean = np.ones((len(depth), lat.size, lon.size), bool)
    if land is not None:
        ocean[land] = False
    return Grid(lat, lon, np.array(depth), ocean)


def test_superobs_by_hand():
    # cell centred at (5 N, 5 E): profiles 0 and 1 in March, profile 2 in April;
    # profile 3 on land at level 0, profile 4 outside nothing (global grid)
    rows = [
        ("2019-03-02", 3.0, 2.0, 0.0, 20.0, 0.1, "a", 0),
        ("2019-03-02", 3.0, 2.0, 30.0, 14.0, 0.1, "a", 0),   # 10 m: 18, 20 m: 16
        ("2019-03-20", 6.0, 8.0, 10.0, 17.0, 0.2, "b", 1),
        ("2019-03-20", 6.0, 8.0, 20.0, 15.0, 0.2, "b", 1),   # 10 m: 17, 20 m: 15
        ("2019-04-01", 4.0, 4.0, 10.0, 30.0, 0.3, "a", 2),
        ("2019-03-10", -15.0, 25.0, 5.0, 10.0, 0.1, "c", 3),
        ("2019-03-10", -15.0, 25.0, 15.0, 9.0, 0.1, "c", 3),  # 10 m: 9.5 on land
    ]
    grid = _grid(land=(0, 7, 2))  # level 10 m at lat -15, lon 25 is land
    so = superobs(_table(rows), grid)
    assert so.n_land == 1 and so.n_outside == 0
    t = so.table.set_index(["month", "level", "i_lat", "i_lon"])
    march_10 = t.loc[(0, 0, 9, 0)]
    assert march_10["count"] == 2
    np.testing.assert_allclose(march_10["mean"], 17.5)
    np.testing.assert_allclose(march_10["std"], 0.5)
    # profile 0 at 10 m: 2/3 * 0.1 and 1/3 * 0.1 -> sqrt((2/3 0.1)² + (1/3 0.1)²)
    e0 = (2 / 3 * 0.1) ** 2 + (1 / 3 * 0.1) ** 2
    np.testing.assert_allclose(march_10["error_variance"], (e0 + 0.2 ** 2) / 4, rtol=1e-6)
    np.testing.assert_allclose(t.loc[(0, 1, 9, 0), "mean"], 15.5)
    assert (0, 2, 9, 0) not in t.index  # 40 m: deeper than every profile, never filled
    assert t.loc[(1, 0, 9, 0), "count"] == 1 and t.loc[(1, 0, 9, 0), "std"] == 0
    assert (1, 1, 9, 0) not in t.index  # one sample at 10 m reaches no other level
    np.testing.assert_allclose(t.loc[(0, 0, 7, 2), "mean"] if (0, 0, 7, 2) in t.index
                               else np.nan, np.nan)
    assert "dropped 1 profile values on land" in so.report()
    field = so.field()
    assert field.shape == (2, 3, 18, 36) and np.isfinite(field.values).sum() == len(so.table)


def test_profiles_on_levels_never_extrapolates():
    rows = [("2019-03-02", 0.0, 0.0, 12.0, 20.0, 0.1, "a", 0),
            ("2019-03-02", 0.0, 0.0, 25.0, 10.0, 0.1, "a", 0)]
    out = profiles_on_levels(_table(rows), np.array([10.0, 20.0, 40.0]))
    assert out["level"].tolist() == [1]
    np.testing.assert_allclose(out["value"], 20 - 10 * 8 / 13)


def test_every_point_on_land_is_an_error():
    rows = [("2019-03-02", 3.0, 2.0, 10.0, 20.0, 0.1, "a", 0)]
    with pytest.raises(InputError, match="every observation lies on land"):
        superobs(_table(rows), _grid(land=(slice(None), 9, 0)))


# -- interpolation to points -------------------------------------------------------------------
def test_interpolation_is_exact_for_linear_fields_and_continuous_across_the_dateline():
    grid = _grid()
    lat, lon, depth = np.meshgrid(grid.lat, grid.lon, grid.depth, indexing="ij")
    values = (2 * lat + 0.1 * depth).transpose(2, 0, 1)
    pts_lat, pts_depth = np.array([3.0, -41.0, 12.5]), np.array([10.0, 33.0, 20.0])
    got = ose.interpolate_to_points(values, grid, pts_lat, np.array([7.0, 123.0, 300.0]),
                                    pts_depth)
    np.testing.assert_allclose(got, 2 * pts_lat + 0.1 * pts_depth)
    # a field that depends on longitude: between the last centre (355) and the first (5)
    wave = np.broadcast_to(np.cos(np.deg2rad(grid.lon)), values.shape)
    at = ose.interpolate_to_points(wave, grid, np.zeros(3), np.array([359.0, 0.0, 1.0]),
                                   np.full(3, 10.0))
    np.testing.assert_allclose(at, np.cos(np.deg2rad(5.0)))  # equal weights on 355 and 5
    assert np.isnan(ose.interpolate_to_points(values, grid, [0.0], [0.0], [50.0]))[0]


def test_point_scores_by_hand():
    rows = ose.point_scores(np.array([1.0, -3.0, 2.0]), np.array([0, 0, 1]),
                            np.array([10.0, 20.0]))
    pooled = rows[rows.depth.isna()].set_index("metric")["value"]
    assert pooled["mse"] == pytest.approx(14 / 3) and pooled["bias"] == 0
    assert pooled["mae"] == 2 and pooled["n_points"] == 3
    level0 = rows[rows.depth == 10.0].set_index("metric")["value"]
    assert level0["mse"] == 5 and level0["bias"] == -1


# -- leave-float-out: withheld floats never reach a method ------------------------------------
def _floats_table(rng) -> ObservationTable:
    rows, profile = [], 0
    for f in range(6):
        for day in (2, 12, 22):
            lat, lon = rng.uniform(-60, 60), rng.uniform(0, 360)
            for depth in (5.0, 15.0, 30.0, 45.0):
                rows.append((f"2019-03-{day:02d}", lat, lon, depth,
                             20 - 0.1 * depth + rng.normal(), 0.01, f"float{f}", profile))
            profile += 1
    return _table(rows)


def _gridded_guidance(grid, rng) -> GriddedGuidance:
    """A cloudy surface field of March 2019 on ``grid``: 19 °C plus noise at half the cells
    of the first level (NaN at the others and at every deeper level)."""
    values = np.full((1, *grid.shape), np.nan, np.float32)
    surface = 19 + rng.normal(size=grid.shape[1:])
    values[0, 0] = np.where(rng.random(grid.shape[1:]) < 0.5, surface, np.nan)
    return GriddedGuidance("'cloudy.nc'", np.array(["2019-03"], "datetime64[M]")
                           .astype("datetime64[ns]"), values)


@pytest.mark.parametrize("gridded", [False, True], ids=["points", "points+gridded"])
@pytest.mark.parametrize("mode", ["platform", "profile", "point"])
def test_withheld_values_never_reach_a_method(mode, gridded):
    rng = np.random.default_rng(0)
    table = _floats_table(rng)
    grid = _grid()
    times = pd.date_range("2000-01-15", periods=24, freq="MS") + pd.Timedelta(days=14)
    base = 20 - 0.1 * grid.depth[None, :, None, None]
    train = grid.field(base + rng.normal(size=(24, *grid.shape)), times.values)
    guidance = _gridded_guidance(grid, rng) if gridded else None
    withholding = ose.Withholding(mode, 0.34, seed=3)
    withheld = withholding.draw(table)
    poisoned = ObservationTable(table.data.assign(
        value=np.where(withheld, 1e6, table.data["value"])))
    assert withheld.any() and (~withheld).any()
    a = ose.prepare(table, grid, withholding, samples=1, guidance=guidance)
    b = ose.prepare(poisoned, grid, withholding, samples=1, guidance=guidance)
    xr.testing.assert_identical(a.obs, b.obs)
    for name in ("climatology", "nearest", "linear", "oi", "kriging", "dineof"):
        method = make_method(name).fit(train, grid)
        np.testing.assert_array_equal(method.reconstruct(a.obs).values,
                                      method.reconstruct(b.obs).values, err_msg=name)
    assert (b.withheld["value"] == 1e6).all()  # the poisoned values are what gets scored
    if gridded:  # the gridded guidance is there, but never where a withheld point is scored
        assert a.guidance_counts["n_gridded_cells"][0] > 0
        assert a.guidance_counts["n_gridded_dropped"][0] > 0
        points_only = ose.prepare(table, grid, withholding, samples=1).obs.values
        from_gridded = np.isfinite(a.obs.values) & ~np.isfinite(points_only)
        assert from_gridded.sum() == a.guidance_counts["n_gridded_cells"][0]
        i, j = ose.scoring_cells(grid, a.withheld["lat"], a.withheld["lon"])
        assert not from_gridded[0][:, i, j].any()


def test_gridded_guidance_changes_the_reconstruction_and_is_counted():
    rng = np.random.default_rng(0)
    table, grid = _floats_table(rng), _grid()
    guidance = _gridded_guidance(grid, rng)
    withholding = ose.Withholding("platform", 0.34, seed=3)
    plain = ose.prepare(table, grid, withholding, samples=1)
    joined = ose.prepare(table, grid, withholding, samples=1, guidance=guidance)
    used = np.isfinite(joined.obs.values) & ~np.isfinite(plain.obs.values)
    # where used, the guidance's value; the super-observations are unchanged
    np.testing.assert_array_equal(joined.obs.values[used],
                                  guidance.values[used])
    super_cells = np.isfinite(plain.obs.values)
    np.testing.assert_array_equal(joined.obs.values[super_cells], plain.obs.values[super_cells])
    assert joined.guidance_counts["n_superobs_cells"][0] == super_cells.sum()
    times = pd.date_range("2000-01-15", periods=24, freq="MS") + pd.Timedelta(days=14)
    train = grid.field(20 - 0.1 * grid.depth[None, :, None, None]
                       + rng.normal(size=(24, *grid.shape)), times.values)
    method = make_method("oi").fit(train, grid)
    assert not np.allclose(method.reconstruct(plain.obs).values,
                           method.reconstruct(joined.obs).values)
    rows = ose.score_experiment(joined, method.reconstruct(joined.obs).values, grid)
    counts = rows.set_index("metric")["value"]
    assert counts["n_gridded_cells"] == used.sum()
    assert "n_gridded_cells" not in set(ose.score_experiment(
        plain, method.reconstruct(plain.obs).values, grid)["metric"])


def test_withholding_is_reproducible_from_the_seed():
    table = _floats_table(np.random.default_rng(1))
    one = ose.Withholding("platform", 0.34, seed=5).draw(table)
    assert np.array_equal(one, ose.Withholding("platform", 0.34, seed=5).draw(table))
    assert table.data.loc[one, "platform"].nunique() == 2
    with pytest.raises(InputError, match="withholding mode"):
        ose.Withholding("float", 0.3)
