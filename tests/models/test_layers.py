"""The shared label inputs and projection head of gankit.models.layers."""

from __future__ import annotations

import torch

from gankit.models.layers import LabelEmbedding, LabelMaps, ProjectionHead, projection_head


def test_label_embedding_joins_one_vector_per_label():
    embed = LabelEmbedding(3, 4)
    assert list(embed.state_dict()) == ["weight"]  # saved as `embed.weight`, as before
    h = torch.randn(2, 5)
    labels = torch.tensor([2, 0])
    out = embed(h, labels)
    assert out.shape == (2, 9)
    torch.testing.assert_close(out[:, :5], h)
    torch.testing.assert_close(out[:, 5:], embed.weight[labels])


def test_label_maps_stack_one_channel_in_the_images_dtype():
    maps = LabelMaps(3, 6)
    assert list(maps.state_dict()) == ["weight"] and maps.weight.shape == (3, 36)
    x = torch.randn(2, 3, 6, 6, dtype=torch.bfloat16)
    out = maps(x, torch.tensor([1, 2]))
    assert out.shape == (2, 4, 6, 6) and out.dtype == torch.bfloat16
    assert torch.equal(out[1, 3].float(), maps.weight[2].view(6, 6).bfloat16().float())


def test_projection_head_only_under_projection():
    assert projection_head("concat", features=8, num_classes=3, norm="spectral") is None
    head = projection_head("projection", features=8, num_classes=3, norm="spectral")
    assert isinstance(head, ProjectionHead) and hasattr(head.embed, "parametrizations")
    plain = projection_head("projection", features=8, num_classes=3, norm="batch")
    assert not hasattr(plain.embed, "parametrizations")
    phi = torch.randn(2, 8)
    labels = torch.tensor([0, 2])
    torch.testing.assert_close(plain(phi, labels), (plain.embed.weight[labels] * phi).sum(1))
