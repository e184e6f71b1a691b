"""FER2013 (Kaggle CSV and folder layouts) and ImageFolder, built from real staged images."""

import csv
import shutil

import cv2
import numpy as np
import pytest

from affectlens.datasets import load_dataset
from affectlens.datasets.fer2013 import CSV_CODES
from affectlens.errors import AffectlensError
from affectlens.labels import EMOTIONS


@pytest.fixture(scope="module")
def fer_rows(ferplus):
    """(png path, FER+ majority label) of 120 real test faces without contempt."""
    rows = []
    with open(ferplus / "FER2013Test" / "label.csv") as fh:
        for r in csv.reader(fh):
            votes = list(map(int, r[2:12]))
            top = int(np.argmax(votes))
            if top < 7:
                rows.append((ferplus / "FER2013Test" / r[0], EMOTIONS[top]))
            if len(rows) == 120:
                break
    return rows


def test_kaggle_csv(tmp_path, fer_rows):
    path = tmp_path / "fer2013.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["emotion", "pixels", "Usage"])
        for i, (png, label) in enumerate(fer_rows):
            px = cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)
            w.writerow([CSV_CODES.index(label), " ".join(map(str, px.ravel())), "PrivateTest" if i % 2 else "Training"])
    ds = load_dataset(f"fer2013:{path}", "test")
    assert len(ds) == 60 and ds.images.shape[1:] == (48, 48)
    assert "contempt" not in ds.classes
    assert [ds.classes[i] for i in ds.labels] == [lab for i, (_, lab) in enumerate(fer_rows) if i % 2]
    assert len(load_dataset(f"fer2013:{tmp_path}", "train")) == 60  # the folder holding fer2013.csv works too


def test_kaggle_folder_layout(tmp_path, fer_rows):
    names = {
        "anger": "angry",
        "happiness": "happy",
        "sadness": "sad",
        "surprise": "surprise",
        "neutral": "neutral",
        "fear": "fear",
        "disgust": "disgust",
    }
    for png, label in fer_rows:
        d = tmp_path / "test" / names[label]
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(png, d / png.name)
    ds = load_dataset(f"fer2013:{tmp_path}", "test")
    assert len(ds) == 120
    assert ds.name == "fer2013"


def test_imagefolder_synonyms_and_unreadable_files(tmp_path, media, caplog):
    for src, folder in (("angry", "Angry"), ("happy", "happy"), ("sad", "3_sad"), ("surprised", "surprised")):
        d = tmp_path / folder
        d.mkdir()
        shutil.copy(media / "expressions" / f"{src}.jpg", d / "a.jpg")
    (tmp_path / "happy" / "broken.jpg").write_bytes(b"not really a jpeg")
    with caplog.at_level("WARNING"):
        ds = load_dataset(f"imagefolder:{tmp_path}", "all", use_cache=False)
    assert ds.info["unreadable"] == 1
    assert "skipped 1 unreadable" in caplog.text
    assert ds.classes == ("happiness", "surprise", "sadness", "anger")
    assert sorted(ds.label_names) == ["anger", "happiness", "sadness", "surprise"]


def test_imagefolder_unknown_class_folder(tmp_path):
    (tmp_path / "giraffe").mkdir()
    with pytest.raises(AffectlensError, match="unrecognised class folders \\['giraffe'\\]"):
        load_dataset(f"imagefolder:{tmp_path}", "all", use_cache=False)


def test_the_cache_reads_a_folder_again_once_images_are_added(tmp_path, media, monkeypatch):
    monkeypatch.setenv("AFFECTLENS_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "faces"
    for src, folder in (("happy", "happy"), ("sad", "sad")):
        (root / folder).mkdir(parents=True)
        shutil.copy(media / "expressions" / f"{src}.jpg", root / folder / "a.jpg")
    assert len(load_dataset(f"imagefolder:{root}", "all", use_cache=True)) == 2
    shutil.copy(media / "expressions" / "happy.jpg", root / "happy" / "b.jpg")
    assert len(load_dataset(f"imagefolder:{root}", "all", use_cache=True)) == 3  # not the stale 2


def test_the_cache_reads_images_overwritten_in_place_again(tmp_path, media, monkeypatch):
    """An image replaced under the same name leaves its folder's mtime as it was: the cache served the old pixels
    (eval figures of images no longer there). Every file's size and mtime are in the key."""
    import os

    monkeypatch.setenv("AFFECTLENS_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "faces"
    for src, folder in (("happy", "happy"), ("sad", "sad")):
        (root / folder).mkdir(parents=True)
        shutil.copy(media / "expressions" / f"{src}.jpg", root / folder / "a.jpg")
    before = load_dataset(f"imagefolder:{root}", "all", use_cache=True)
    stamp = (root / "happy").stat()
    shutil.copy(media / "expressions" / "angry.jpg", root / "happy" / "a.jpg")  # overwritten in place
    os.utime(root / "happy", ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # (the folder as it was, to be sure)
    after = load_dataset(f"imagefolder:{root}", "all", use_cache=True)
    fresh = load_dataset(f"imagefolder:{root}", "all", use_cache=False)
    assert not np.array_equal(before.images, after.images)
    np.testing.assert_array_equal(after.images, fresh.images)


def test_an_imagefolder_without_split_folders_is_the_split_all(tmp_path, media, caplog):
    # every split of such a folder is the same images: it was labelled with the split asked for (train, valid)
    from affectlens.datasets import images_read

    for name in ("happy", "sad"):
        (tmp_path / "flat" / name).mkdir(parents=True)
        shutil.copy(media / "expressions" / f"{name}.jpg", tmp_path / "flat" / name / "a.jpg")
        (tmp_path / "split" / "valid" / name).mkdir(parents=True)
        shutil.copy(media / "expressions" / f"{name}.jpg", tmp_path / "split" / "valid" / name / "a.jpg")
    with caplog.at_level("WARNING"):
        ds = load_dataset(f"imagefolder:{tmp_path / 'flat'}", "valid", use_cache=False)
    assert ds.split == "all" and "has no valid/ folder" in caplog.text
    assert load_dataset(f"imagefolder:{tmp_path / 'split'}", "valid", use_cache=False).split == "valid"
    flat = f"imagefolder:{tmp_path / 'flat'}"
    assert images_read(flat, "train") == images_read(flat, "valid")
    split = f"imagefolder:{tmp_path / 'split'}"
    assert images_read(split, "valid") == images_read(f"imagefolder:{tmp_path / 'split' / 'valid'}", "train")
    assert images_read(split, "valid") != images_read(split, "test")
