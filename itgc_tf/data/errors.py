"""Every user-facing error of the input pipelines, in one place.

Each function returns (does not raise) an exception whose message says what is
wrong and how to fix it; callers write ``raise errors.missing_folder(path)``.
"""
from collections.abc import Iterable, Sequence

SUPPORTED = ".png, .jpg, .jpeg, .bmp"


def _first(items: Sequence[str], n: int = 5) -> str:
    shown = ", ".join(items[:n])
    return shown + (f", ... ({len(items) - n} more)" if len(items) > n else "")


# --- configuration ---------------------------------------------------------------

def bad_choice(name: str, value, allowed: Iterable[str]) -> ValueError:
    return ValueError(f"--{name}={value!r} is not supported. Fix: use one of "
                      f"{', '.join(allowed)}.")


def not_positive(name: str, value) -> ValueError:
    return ValueError(f"--{name}={value!r} must be a positive integer. Fix: pass a value >= 1.")


def negative(name: str, value) -> ValueError:
    return ValueError(f"--{name}={value!r} must be >= 0. Fix: pass a non-negative integer.")


def bad_channels(name: str, value) -> ValueError:
    return ValueError(f"--{name}={value!r}: images have 1 (grayscale) or 3 (RGB) channels. "
                      f"Fix: pass --{name}=1 or --{name}=3.")


def crop_larger_than_load(crop_size: int, load_size: int, preprocess: str) -> ValueError:
    return ValueError(f"--crop_size={crop_size} is larger than --load_size={load_size}: with "
                      f"--preprocess={preprocess} images are resized to load_size before the "
                      f"crop. Fix: make crop_size <= load_size.")


def bad_aspect_ratio(value) -> ValueError:
    return ValueError(f"--aspect_ratio={value!r} must be a positive number (width / height of "
                      f"the crops). Fix: pass e.g. --aspect_ratio=1 (square) or 2 (Cityscapes).")


def bad_label_nc(value) -> ValueError:
    return ValueError(f"--label_nc={value!r} must be an integer from 0 to 255 (label PNGs hold "
                      f"8-bit class ids). Fix: pass the number of classes, e.g. 35 for "
                      f"Cityscapes labelIds.")


def labels_need_label_nc(dataset: str) -> ValueError:
    return ValueError(f"--dataset={dataset} holds label maps but --label_nc is 0. Fix: pass "
                      f"--label_nc=NUMBER_OF_CLASSES (e.g. 35 for Cityscapes, 6 for "
                      f"demo:labels2photo).")


def empty_dataset_spec() -> ValueError:
    return ValueError("--dataset is empty. Fix: pass a folder path, tfds:NAME[/CONFIG], "
                      "tfrecord:DIR_OR_GLOB or demo:enhance|edges2photo|unpaired|labels2photo.")


def empty_dataset_name(prefix: str) -> ValueError:
    return ValueError(f"--dataset={prefix}: names no dataset. Fix: write it as {prefix}:NAME, "
                      f"e.g. tfds:cycle_gan/horse2zebra, tfrecord:/data/shards or demo:enhance.")


def bad_tfds_keys(value) -> ValueError:
    return ValueError(f"--tfds_keys={value!r} must name two image features, the input (A) "
                      f"and the target (B). Fix: e.g. --tfds_keys=lr,hr (paired) or "
                      f"--tfds_keys=image,image (unpaired with two splits).")


def bad_type(name: str, value, expected: str) -> ValueError:
    return ValueError(f"{name}={value!r} must be {expected}. Fix: pass {expected}.")


# --- image folders --------------------------------------------------------------

def missing_folder(path: str, what: str = "Dataset folder") -> FileNotFoundError:
    return FileNotFoundError(f"{what} {path} does not exist. Fix: check the path given to "
                             f"--dataset (and the split name).")


def not_a_folder(path: str, what: str, kind: str) -> NotADirectoryError:
    return NotADirectoryError(f"{what} {path} is {kind}, not a folder. Fix: point --dataset at "
                              f"the folder that holds the images (extract an archive first; "
                              f"repair or remove a broken link).")


def empty_folder(path: str) -> ValueError:
    return ValueError(f"Folder {path} is empty. Fix: put the images ({SUPPORTED}) in it or "
                      f"point --dataset at the folder that holds them.")


def no_supported_images(path: str, found: dict[str, int]) -> ValueError:
    listing = ", ".join(f"{kind} x{n}" for kind, n in sorted(found.items()))
    return ValueError(f"Folder {path} has no images of a supported type ({SUPPORTED}); it "
                      f"holds: {listing}. Fix: convert the images to PNG or JPEG.")


def unreadable_image(path: str, reason: str) -> ValueError:
    return ValueError(f"Cannot read image {path}: {reason}. Fix: re-export the file as "
                      f"PNG/JPEG, or skip it by moving it out of the dataset (with its "
                      f"same-name partner in the other folder for paired folders).")


def unsupported_bmp(path: str, mode: str) -> ValueError:
    return ValueError(f"Image {path} is a BMP with mode {mode!r} (palette or 1-bit), which "
                      f"TensorFlow decodes incorrectly. Fix: re-save it as PNG or 24-bit BMP.")


def duplicate_names(folder: str, names: Sequence[str]) -> ValueError:
    return ValueError(f"Folder {folder} holds several files with the same name but different "
                      f"extensions: {_first(list(names))}. Fix: keep one file per name, so A "
                      f"and B files can be matched by name.")


def unmatched_pairs(folder_a: str, folder_b: str, only_a: Sequence[str],
                    only_b: Sequence[str]) -> ValueError:
    parts = []
    if only_a:
        parts.append(f"{len(only_a)} name(s) only in {folder_a}: {_first(list(only_a))}")
    if only_b:
        parts.append(f"{len(only_b)} name(s) only in {folder_b}: {_first(list(only_b))}")
    return ValueError(f"Paired folders do not match: {'; '.join(parts)}. Fix: every file in A/ "
                      f"needs a file with the same name (any supported extension) in B/; "
                      f"remove or rename the unmatched ones.")


def odd_aligned_width(path: str, width: int) -> ValueError:
    return ValueError(f"Aligned image {path} has odd width {width}: an aligned image holds A "
                      f"and B side by side, so its width must be even. Fix: crop or pad it to "
                      f"an even width, or store A and B in separate folders (--layout=folders).")


def too_small(path: str, size: tuple[int, int], resized: tuple[int, int], crop_size: int,
              preprocess: str, load_size: int) -> ValueError:
    return ValueError(f"Image {path} is {size[0]}x{size[1]} (HxW); after --preprocess="
                      f"{preprocess} (--load_size={load_size}) it is {resized[0]}x{resized[1]}, "
                      f"smaller than --crop_size={crop_size}. Fix: lower --crop_size, raise "
                      f"--load_size, use --preprocess=resize_and_crop, or remove the image.")


def too_small_at_run_time(crop_size: int, preprocess: str) -> str:
    """Message of the in-pipeline check for sources whose image sizes are not known
    up front (TFDS)."""
    return (f"an image is smaller than --crop_size={crop_size} after --preprocess="
            f"{preprocess}. Fix: lower --crop_size or raise --load_size.")


def pair_size_mismatch_at_run_time(preprocess: str) -> str:
    """Message of the in-pipeline check that both images of a pair have one size."""
    return (f"the images of a pair differ in size after --preprocess={preprocess}. Fix: "
            f"store A and B at the same size or use --preprocess=resize_and_crop.")


def pair_size_mismatch(path_a: str, path_b: str, size_a, size_b, preprocess: str) -> ValueError:
    return ValueError(f"Paired images {path_a} ({size_a[0]}x{size_a[1]}) and {path_b} "
                      f"({size_b[0]}x{size_b[1]}) differ in size after --preprocess={preprocess}, "
                      f"so one crop cannot cover both. Fix: store A and B at the same size, or "
                      f"use --preprocess=resize_and_crop.")


def unknown_layout(root: str, split: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"Cannot find split {split!r} in {root}. Expected one of: {root}/{split}/ with aligned "
        f"A|B images (--layout=aligned), {root}/{split}/A/ and {root}/{split}/B/ with matching "
        f"names (--layout=folders), {root}/{split}A/ and {root}/{split}B/ (--layout=unpaired), "
        f"or {root}/{split}/labels/ and {root}/{split}/images/ (--layout=labels). "
        f"Fix: arrange the folders like that or pass the right --dataset/split.")


def label_out_of_range(path: str, bad_ids: Sequence[int], label_nc: int,
                       contain_dontcare_label: bool) -> ValueError:
    allowed = f"0..{label_nc - 1}" + (" and 255 (don't care)" if contain_dontcare_label else "")
    hint = ("" if contain_dontcare_label or 255 not in bad_ids else
            " If 255 marks unlabelled pixels, pass --contain_dontcare_label;")
    return ValueError(f"Label map {path} holds class id(s) {list(bad_ids)[:10]} outside "
                      f"{allowed} (--label_nc={label_nc}).{hint} Fix: raise --label_nc to the "
                      f"number of classes, or remap the ids when preparing the labels.")


def bad_label_mode(path: str, mode: str) -> ValueError:
    return ValueError(f"Label map {path} is a {mode!r} image; label maps must be 8-bit "
                      f"grayscale PNGs whose pixel values are the class ids (a palette or RGB "
                      f"image would be read as colours). Fix: save the class ids as a mode 'L' "
                      f"PNG (e.g. Image.fromarray(ids.astype('uint8')).save(path)).")


def label_size_mismatch(path_a: str, path_b: str, size_a, size_b) -> ValueError:
    return ValueError(f"{path_a} ({size_a[0]}x{size_a[1]}) and {path_b} ({size_b[0]}x"
                      f"{size_b[1]}) belong to one example but differ in size, so labels and "
                      f"pixels would not line up. Fix: store label maps, instance maps and "
                      f"photos of an example at the same size.")


def missing_instances(folder: str) -> FileNotFoundError:
    return FileNotFoundError(f"Instance maps folder {folder} is missing. Fix: add instance-id "
                             f"PNGs with the label maps' names there, or pass --no_instance "
                             f"(no instance-edge channel).")


def too_few_for_shards(count: int, num_shards: int, what: str) -> ValueError:
    return ValueError(f"{what} has {count} example(s), fewer than the {num_shards} input "
                      f"pipelines that share it, so some would get none. Fix: add data or use "
                      f"fewer workers.")


# --- TFDS -----------------------------------------------------------------------

def unknown_tfds(name: str, reason: str, close: Sequence[str]) -> ValueError:
    hint = f" Close matches: {', '.join(close)}." if close else ""
    return ValueError(f"Unknown TFDS dataset {name!r} ({reason}).{hint} Fix: use a name from "
                      f"`tfds.list_builders()` (https://www.tensorflow.org/datasets/catalog), "
                      f"written tfds:NAME or tfds:NAME/CONFIG.")


def tfds_not_prepared(name: str, data_dir: str, reason: str) -> FileNotFoundError:
    return FileNotFoundError(f"TFDS dataset {name!r} is not prepared in {data_dir} ({reason}). "
                             f"Fix: prepare it once where there is network "
                             f"(`tfds build {name} --data_dir=DIR`) and pass "
                             f"--tfds_data_dir=DIR; itgc_tf never downloads at run time.")


def tfds_missing_key(name: str, key: str, image_keys: Sequence[str]) -> ValueError:
    return ValueError(f"TFDS dataset {name!r} has no image feature {key!r}; its image features "
                      f"are: {', '.join(image_keys) or '(none)'}. Fix: pass "
                      f"--tfds_keys=A_KEY,B_KEY naming two of them.")


def tfds_ambiguous_keys(name: str, image_keys: Sequence[str]) -> ValueError:
    return ValueError(f"TFDS dataset {name!r} has several image features "
                      f"({', '.join(image_keys)}), so which one is A and which B is unclear. "
                      f"Fix: pass --tfds_keys=A_KEY,B_KEY (paired) or --tfds_keys=KEY,KEY "
                      f"(unpaired, splits {{split}}A and {{split}}B).")


def tfds_missing_split(name: str, split: str, available: Sequence[str]) -> ValueError:
    return ValueError(f"TFDS dataset {name!r} has no split {split!r}; it has: "
                      f"{', '.join(available)}. Fix: pass one of those splits (unpaired "
                      f"datasets need {split}A and {split}B).")


# --- TFRecord shards ------------------------------------------------------------

def missing_tfrecord_metadata(path: str) -> FileNotFoundError:
    return FileNotFoundError(f"No TFRecord metadata {path}. Fix: write the shards with "
                             f"`python scripts/make_tfrecords.py --dataset=... --output=DIR "
                             f"--split=SPLIT` and pass --dataset=tfrecord:DIR.")


def foreign_tfrecord_metadata(path: str, expected: str) -> ValueError:
    return ValueError(f"{path} is not TFRecord metadata of format {expected}. Fix: rewrite the "
                      f"shards with scripts/make_tfrecords.py into a folder of their own.")


def no_tfrecord_files(pattern: str) -> FileNotFoundError:
    return FileNotFoundError(f"No TFRecord shards match {pattern}. Fix: pass "
                             f"--dataset=tfrecord:DIR (the folder make_tfrecords.py wrote) or a "
                             f"glob that matches its .tfrecord files.")


def foreign_tfrecord_files(files: Sequence[str], metadata: str) -> ValueError:
    return ValueError(f"TFRecord files {_first(list(files))} are not listed in {metadata}. "
                      f"Fix: let the glob match only shards of that split, or rewrite the "
                      f"shards with scripts/make_tfrecords.py.")


def tfrecord_too_small(metadata: str, domain: str, resized: tuple[int, int],
                       crop_size: int, preprocess: str, load_size: int) -> ValueError:
    return ValueError(f"The smallest {domain} images listed in {metadata} are "
                      f"{resized[0]}x{resized[1]} after --preprocess={preprocess} "
                      f"(--load_size={load_size}), smaller than --crop_size={crop_size}. Fix: "
                      f"lower --crop_size, raise --load_size or use --preprocess=resize_and_crop.")


def bad_num_shards(value) -> ValueError:
    return ValueError(f"--num_shards={value!r} must be a positive integer. Fix: pass e.g. "
                      f"--num_shards=8 (about 100-200 MB per shard is a good size).")


# --- demo -----------------------------------------------------------------------

def unknown_demo(task: str, tasks: Iterable[str]) -> ValueError:
    return ValueError(f"Unknown demo task {task!r}. Fix: use --dataset=demo:TASK with TASK one "
                      f"of {', '.join(tasks)}.")
