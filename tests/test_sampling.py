import torch

from gankit.config import ModelConfig
from gankit.models import build_models
from gankit.sampling import (
    generate,
    interpolation_inputs,
    label_grid_inputs,
    noise,
    sample_batches,
)


def test_noise_for_a_seed_does_not_depend_on_the_others():
    assert torch.equal(noise([3, 4], 7), noise(range(6), 7)[3:5])
    assert not torch.equal(noise([1], 7), noise([2], 7))


def test_generated_image_does_not_depend_on_batch_size():
    torch.manual_seed(0)
    G, _ = build_models(
        ModelConfig(arch="dcgan", g_width=8, z_dim=8, conditioning="concat", embed_dim=4),
        img_size=28,
        channels=1,
        num_classes=3,
    )
    G.train()
    z, y = label_grid_inputs(3, 4, 8)
    a = generate(G, z, y, batch_size=12)
    b = generate(G, z, y, batch_size=5)
    assert a.dtype == torch.uint8 and a.shape == (12, 1, 28, 28)
    assert torch.equal(a, b)
    assert G.training  # restored after sampling in eval mode


def test_interpolation_ends_at_the_two_seeds():
    walk = interpolation_inputs(5, 9, 6, 16)
    ends = noise([5, 9], 16)
    assert torch.allclose(walk[0], ends[0], atol=1e-5) and torch.allclose(
        walk[-1], ends[1], atol=1e-5
    )


def test_sample_batches_streams_balanced_labels_by_seed():
    torch.manual_seed(0)
    G, _ = build_models(
        ModelConfig(arch="mlp", g_hidden=[16], z_dim=8, conditioning="concat", embed_dim=4),
        img_size=8,
        channels=1,
        num_classes=3,
    )
    batches = list(sample_batches(G, 7, seed=10, batch_size=3))
    assert [len(x) for x, _ in batches] == [3, 3, 1]
    labels = torch.cat([y for _, y in batches])
    assert labels.tolist() == [0, 1, 2, 0, 1, 2, 0]
    images = torch.cat([x for x, _ in batches])
    one = generate(G, noise([14], 8), torch.tensor([1]))
    assert torch.equal(images[4], one[0])
