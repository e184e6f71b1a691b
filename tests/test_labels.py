from affectlens.labels import EMOTIONS, canonical, valence


def test_ferplus_order():
    assert EMOTIONS == ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")


def test_synonyms():
    assert canonical("angry") == "anger"
    assert canonical("Happy") == "happiness"
    assert canonical("sad") == "sadness"
    assert canonical("surprised") == "surprise"
    assert canonical("3_fearful") == "fear"
    assert canonical("Neutral") == "neutral"
    assert canonical("giraffe") is None


def test_valence_groups():
    assert valence("happiness") == valence("surprise") == "positive"
    assert all(valence(e) == "negative" for e in ("anger", "disgust", "fear", "sadness", "contempt"))
    assert valence("neutral") == "neutral"
