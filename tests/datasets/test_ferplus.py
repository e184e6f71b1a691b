import numpy as np
import pytest

from affectlens.datasets import load_dataset
from affectlens.datasets.ferplus import vote_targets
from affectlens.errors import AffectlensError


def test_test_split_majority_protocol(ferplus):
    ds = load_dataset(f"ferplus:{ferplus}", "test")
    # 3,573 images, 28 whose top vote is unknown/NF, 286 identical to a training image
    assert ds.info["dropped_unknown_or_nf"] == 28
    assert ds.info["excluded_train_duplicates"] == 286
    assert len(ds) == 3573 - 28 - 286
    assert ds.images.shape[1:] == (48, 48) and ds.images.dtype == np.uint8
    assert set(np.unique(ds.labels)) == set(range(8))
    np.testing.assert_allclose(ds.targets.sum(1), 1, atol=1e-5)
    assert (ds.targets.argmax(1) == ds.labels).mean() > 0.97


def test_duplicates_can_be_kept(ferplus):
    ds = load_dataset(f"ferplus:{ferplus}", "test", exclude_duplicates=False)
    assert len(ds) == 3573 - 28


def test_cache_round_trip(ferplus):
    a = load_dataset(f"ferplus:{ferplus}", "valid", use_cache=True)
    b = load_dataset(f"ferplus:{ferplus}", "valid", use_cache=True)  # from the cache
    c = load_dataset(f"ferplus:{ferplus}", "valid", use_cache=False)
    for x in (b, c):
        np.testing.assert_array_equal(a.images, x.images)
        np.testing.assert_array_equal(a.labels, x.labels)
        assert list(a.files) == list(x.files)


def test_a_cache_written_compressed_by_an_older_release_still_loads(ferplus, tmp_path, monkeypatch):
    """Caches are written uncompressed now (face pixels do not deflate; compressing RAF-DB took 10 of its 12.7 s
    first read); one an older release wrote with np.savez_compressed is read as before, not decoded again."""
    import affectlens.datasets.cache as cache

    monkeypatch.setenv("AFFECTLENS_CACHE", str(tmp_path))
    monkeypatch.setattr(cache.np, "savez", np.savez_compressed)  # write as the older release did
    a = load_dataset(f"ferplus:{ferplus}", "valid", use_cache=True)
    monkeypatch.undo()
    monkeypatch.setenv("AFFECTLENS_CACHE", str(tmp_path))
    (file,) = (tmp_path / "datasets").glob("*.npz")
    with np.load(file) as z:
        assert z.zip.getinfo("images.npy").compress_type != 0  # it was compressed
    monkeypatch.setattr(cache, "save", lambda *_: pytest.fail("the compressed cache was not used"))
    b = load_dataset(f"ferplus:{ferplus}", "valid", use_cache=True)
    np.testing.assert_array_equal(a.images, b.images)


def test_a_new_cache_is_stored_uncompressed(ferplus, tmp_path, monkeypatch):
    monkeypatch.setenv("AFFECTLENS_CACHE", str(tmp_path))
    load_dataset(f"ferplus:{ferplus}", "valid", use_cache=True)
    (file,) = (tmp_path / "datasets").glob("*.npz")
    with np.load(file) as z:
        assert z.zip.getinfo("images.npy").compress_type == 0


def test_vote_targets_drop_single_outlier_votes():
    votes = np.array([[6, 0, 1, 0, 3, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0, 0, 0, 9]])
    t = vote_targets(votes)
    np.testing.assert_allclose(t[0], [6 / 9, 0, 0, 0, 3 / 9, 0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(t[1].sum(), 1.0)  # only a single vote: kept rather than emptied


def test_wrong_layout_names_the_expected_one(tmp_path):
    (tmp_path / "FER2013Test").mkdir()
    with pytest.raises(AffectlensError, match="FER2013Train\\|FER2013Valid\\|FER2013Test/label.csv"):
        load_dataset(f"ferplus:{tmp_path}", "test")


def test_unknown_split(ferplus):
    with pytest.raises(AffectlensError, match="no split 'holdout'"):
        load_dataset(f"ferplus:{ferplus}", "holdout")


def test_bad_spec():
    with pytest.raises(AffectlensError, match="KIND:PATH"):
        load_dataset("celeba:/nowhere", "test")


def test_a_published_dataset_is_the_same_images_wherever_it_is_stored(ferplus, tmp_path, monkeypatch):
    """A card's training path is relative to the folder the model was trained in: from any other folder it named
    nothing, and evaluating on the training images passed without the warning (every pip-installed user)."""
    from affectlens.datasets import images_read, require_apart

    monkeypatch.chdir(tmp_path)
    card = [("ferplus:../shared/data/ferplus", "train", "the training set")]  # as the shipped cards record it
    assert images_read("ferplus:../shared/data/ferplus", "train") == images_read(f"fer2013:{ferplus}", "train")
    with pytest.raises(AffectlensError, match="reads the same images as the training set"):
        require_apart((f"ferplus:{ferplus}", "train"), "--dataset", card)
    require_apart((f"ferplus:{ferplus}", "test"), "--dataset", card)  # another split: held out
    assert images_read(f"imagefolder:{tmp_path / 'nowhere'}", "train") is None
