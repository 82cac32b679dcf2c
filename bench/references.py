"""The reference implementations' training loops, as their scripts run them.

Re-typed from the three reference scripts gankit's speed is compared with, so that
they can be timed on the same machine, in the same benchmark run, as gankit (their
published speed figures were taken on another CPU; see the README):

- pytorch/examples ``dcgan/main.py`` (``--dataset mnist --imageSize 64``): DataLoader
  with 2 workers and per-image Resize/ToTensor/Normalize, BCELoss after a Sigmoid,
  D's update in two backward passes, G's update back-propagating through D's
  weights too, ``.item()`` four times a step and a log line per step.
- PyTorch-GAN ``implementations/gan/gan.py``: MLPs, BCELoss, noise from NumPy, G's
  update first, one log line per step (two ``.item()``).
- PyTorch-GAN ``implementations/wgan_gp/wgan_gp.py``: the same MLPs without the
  Sigmoid, 5 critic steps per G step, the fake batch not detached on critic steps
  (so every critic step back-propagates through G), gradient penalty with lambda 10.

torchvision is not importable here, so the per-image transforms are written with
Pillow and NumPy the way torchvision's do them (PIL resize, /255, (x - 0.5) / 0.5).
Only the training step is timed: no image files or checkpoints are written.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import numpy as np
import torch
from PIL import Image
from torch import autograd, nn
from torch.utils.data import DataLoader, Dataset


class FashionPIL(Dataset):
    """Fashion-MNIST train images as torchvision serves them: a PIL image per item."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, size: int):
        self.images, self.labels, self.size = images, labels, size

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        img = Image.fromarray(self.images[i], mode="L")
        if self.size != img.size[0]:
            img = img.resize((self.size, self.size), Image.BILINEAR)  # transforms.Resize
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0)[None]  # ToTensor
        return (x - 0.5) / 0.5, int(self.labels[i])  # Normalize((0.5,), (0.5,))


def fashion_arrays() -> tuple[np.ndarray, np.ndarray]:
    from gankit.config import DataConfig
    from gankit.data import load_dataset

    data = load_dataset(DataConfig(dataset="fashion-mnist", img_size=28, channels=1))
    return data.images[:, 0].numpy(), data.labels.numpy()


# --- pytorch/examples dcgan/main.py (nz 100, ngf = ndf = 64, nc 1, 64x64)
def examples_dcgan(nz: int = 100, ngf: int = 64, ndf: int = 64, nc: int = 1):
    G = nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),
        nn.BatchNorm2d(ngf * 8),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ngf * 4),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ngf * 2),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ngf),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
        nn.Tanh(),
    )
    D = nn.Sequential(
        nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ndf * 2),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ndf * 4),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ndf * 8),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False),
        nn.Sigmoid(),
    )

    def weights_init(m):
        name = m.__class__.__name__
        if name.find("Conv") != -1:
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif name.find("BatchNorm") != -1:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)

    G.apply(weights_init), D.apply(weights_init)
    return G, D


def examples_dcgan_steps(batches: Iterator, log) -> Iterator[int]:
    nz = 100
    netG, netD = examples_dcgan()
    criterion = nn.BCELoss()
    optimizerD = torch.optim.Adam(netD.parameters(), lr=0.0002, betas=(0.5, 0.999))
    optimizerG = torch.optim.Adam(netG.parameters(), lr=0.0002, betas=(0.5, 0.999))
    for real_cpu, _ in batches:
        netD.zero_grad()
        batch_size = real_cpu.size(0)
        label = torch.full((batch_size,), 1.0, dtype=real_cpu.dtype)
        output = netD(real_cpu).view(-1)
        errD_real = criterion(output, label)
        errD_real.backward()
        D_x = output.mean().item()
        noise = torch.randn(batch_size, nz, 1, 1)
        fake = netG(noise)
        label.fill_(0.0)
        output = netD(fake.detach()).view(-1)
        errD_fake = criterion(output, label)
        errD_fake.backward()
        D_G_z1 = output.mean().item()
        errD = errD_real + errD_fake
        optimizerD.step()
        netG.zero_grad()
        label.fill_(1.0)
        output = netD(fake).view(-1)
        errG = criterion(output, label)
        errG.backward()
        D_G_z2 = output.mean().item()
        optimizerG.step()
        print(
            f"Loss_D: {errD.item():.4f} Loss_G: {errG.item():.4f} D(x): {D_x:.4f} "
            f"D(G(z)): {D_G_z1:.4f} / {D_G_z2:.4f}",
            file=log,
        )
        yield batch_size


# --- PyTorch-GAN implementations/gan/gan.py and wgan_gp/wgan_gp.py (28x28x1, latent 100)
IMG_SHAPE = (1, 28, 28)


class PGGenerator(nn.Module):
    def __init__(self, latent_dim: int = 100):
        super().__init__()

        def block(in_feat, out_feat, normalize=True):
            layers = [nn.Linear(in_feat, out_feat)]
            if normalize:
                layers.append(nn.BatchNorm1d(out_feat, 0.8))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            return layers

        self.model = nn.Sequential(
            *block(latent_dim, 128, normalize=False),
            *block(128, 256),
            *block(256, 512),
            *block(512, 1024),
            nn.Linear(1024, int(np.prod(IMG_SHAPE))),
            nn.Tanh(),
        )

    def forward(self, z):
        img = self.model(z)
        return img.view(img.size(0), *IMG_SHAPE)


class PGDiscriminator(nn.Module):
    def __init__(self, sigmoid: bool):
        super().__init__()
        layers = [
            nn.Linear(int(np.prod(IMG_SHAPE)), 512),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(512, 256),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(256, 1),
        ]
        self.model = nn.Sequential(*layers, *([nn.Sigmoid()] if sigmoid else []))

    def forward(self, img):
        return self.model(img.view(img.size(0), -1))


def pytorch_gan_steps(batches: Iterator, log) -> Iterator[int]:
    latent_dim = 100
    generator, discriminator = PGGenerator(latent_dim), PGDiscriminator(sigmoid=True)
    adversarial_loss = nn.BCELoss()
    optimizer_G = torch.optim.Adam(generator.parameters(), lr=0.0002, betas=(0.5, 0.999))
    optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=0.0002, betas=(0.5, 0.999))
    for imgs, _ in batches:
        valid = torch.ones(imgs.size(0), 1)
        fake = torch.zeros(imgs.size(0), 1)
        real_imgs = imgs.float()
        optimizer_G.zero_grad()
        z = torch.from_numpy(np.random.normal(0, 1, (imgs.shape[0], latent_dim))).float()
        gen_imgs = generator(z)
        g_loss = adversarial_loss(discriminator(gen_imgs), valid)
        g_loss.backward()
        optimizer_G.step()
        optimizer_D.zero_grad()
        real_loss = adversarial_loss(discriminator(real_imgs), valid)
        fake_loss = adversarial_loss(discriminator(gen_imgs.detach()), fake)
        d_loss = (real_loss + fake_loss) / 2
        d_loss.backward()
        optimizer_D.step()
        print(f"[D loss: {d_loss.item():f}] [G loss: {g_loss.item():f}]", file=log)
        yield imgs.size(0)


def _gradient_penalty(D, real_samples, fake_samples):
    alpha = torch.from_numpy(np.random.random((real_samples.size(0), 1, 1, 1))).float()
    interpolates = (alpha * real_samples + ((1 - alpha) * fake_samples)).requires_grad_(True)
    d_interpolates = D(interpolates)
    fake = torch.ones(real_samples.shape[0], 1)
    gradients = autograd.grad(
        outputs=d_interpolates,
        inputs=interpolates,
        grad_outputs=fake,
        create_graph=True,
        retain_graph=True,
        only_inputs=True,
    )[0]
    gradients = gradients.view(gradients.size(0), -1)
    return ((gradients.norm(2, dim=1) - 1) ** 2).mean()


def pytorch_gan_wgangp_steps(batches: Iterator, log) -> Iterator[int]:
    latent_dim, lambda_gp, n_critic = 100, 10, 5
    generator, discriminator = PGGenerator(latent_dim), PGDiscriminator(sigmoid=False)
    optimizer_G = torch.optim.Adam(generator.parameters(), lr=0.0002, betas=(0.5, 0.999))
    optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=0.0002, betas=(0.5, 0.999))
    for i, (imgs, _) in enumerate(batches):
        real_imgs = imgs.float()
        optimizer_D.zero_grad()
        z = torch.from_numpy(np.random.normal(0, 1, (imgs.shape[0], latent_dim))).float()
        fake_imgs = generator(z)
        real_validity = discriminator(real_imgs)
        fake_validity = discriminator(fake_imgs)
        gradient_penalty = _gradient_penalty(discriminator, real_imgs.data, fake_imgs.data)
        d_loss = -torch.mean(real_validity) + torch.mean(fake_validity)
        d_loss = d_loss + lambda_gp * gradient_penalty
        d_loss.backward()
        optimizer_D.step()
        optimizer_G.zero_grad()
        if i % n_critic == 0:
            fake_imgs = generator(z)
            fake_validity = discriminator(fake_imgs)
            g_loss = -torch.mean(fake_validity)
            g_loss.backward()
            optimizer_G.step()
            print(f"[D loss: {d_loss.item():f}] [G loss: {g_loss.item():f}]", file=log)
        yield imgs.size(0)


# name -> (image size, DataLoader workers, the step generator)
REFERENCES = {
    "examples-dcgan64": (64, 2, examples_dcgan_steps),
    "pytorch-gan-mlp": (28, 0, pytorch_gan_steps),
    "pytorch-gan-wgangp": (28, 0, pytorch_gan_wgangp_steps),
}


def measure_reference(name: str, batches_to_time: int, warmup: int = 3) -> tuple[int, float]:
    """(images, seconds) of ``batches_to_time`` batches of ``name``'s loop after ``warmup``."""
    size, workers, steps = REFERENCES[name]
    images, labels = fashion_arrays()
    loader = DataLoader(
        FashionPIL(images, labels, size),
        batch_size=64,
        shuffle=True,
        num_workers=workers,
        persistent_workers=workers > 0,
    )

    def forever():
        while True:
            yield from loader

    log = io.StringIO()  # the scripts print a line per step; the terminal is not timed
    it = steps(forever(), log)
    for _ in range(warmup):
        next(it)
    seen, t0 = 0, time.perf_counter()
    for _ in range(batches_to_time):
        seen += next(it)
    return seen, time.perf_counter() - t0
