# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 2: convolution and vision
#
# A convolutional layer slides the same small kernels over the whole image. This notebook
# trains a small CNN and an MLP on the embedded 8x8 digits, compares their weights and
# accuracy, and shows the CNN's kernels and feature maps.

# %%
import matplotlib.pyplot as plt

from engram.data import load_digits
from engram.nn import Sequential
from engram.nn.layers import Conv2D, Dense, Flatten, MaxPooling2D

(x_train, y_train), (x_test, y_test) = load_digits(test_fraction=0.3, seed=0)
x_train, x_test = x_train[..., None], x_test[..., None]  # channels last: (n, 8, 8, 1)
print(x_train.shape, x_test.shape)

# %%
cnn = Sequential(
    [
        Conv2D(8, (3, 3), activation="relu", input_shape=(8, 8, 1)),
        MaxPooling2D((2, 2)),
        Flatten(),
        Dense(10, activation="softmax"),
    ],
    seed=0,
)
mlp = Sequential(
    [Flatten(input_shape=(8, 8, 1)), Dense(32, activation="relu"), Dense(10, activation="softmax")],
    seed=0,
)
for name, model in [("CNN", cnn), ("MLP", mlp)]:
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=5, batch_size=32, verbose=0)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"{name}: {model.count_params()} weights, test accuracy {accuracy:.3f}")

# %% [markdown]
# The CNN's eight first-layer kernels (3x3) after training.

# %%
kernels = cnn.layers[0].get_weights()[0]  # (3, 3, 1, 8), Keras's layout
fig, axes = plt.subplots(1, 8, figsize=(8, 1.3))
for k, ax in enumerate(axes):
    ax.imshow(kernels[:, :, 0, k], cmap="gray")
    ax.axis("off")
plt.show()

# %% [markdown]
# What each kernel picks out of one test image: its feature maps.

# %%
first = Sequential([cnn.layers[0]])
maps = first.predict(x_test[:1])[0]  # (6, 6, 8)
fig, axes = plt.subplots(1, 9, figsize=(9, 1.3))
axes[0].imshow(x_test[0, :, :, 0], cmap="gray")
for k, ax in enumerate(axes[1:]):
    ax.imshow(maps[:, :, k], cmap="viridis")
for ax in axes:
    ax.axis("off")
plt.show()

# %% [markdown]
# **Exercises.** Train with 16 kernels or 5x5 kernels. Run `engram run visual-filters --quick`
# to compare trained kernels with Gabor models of V1 receptive fields.
