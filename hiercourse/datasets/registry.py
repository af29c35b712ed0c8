"""The dataset registry: every dataset's files, checksums, download urls, licence and citation.

Taught in chapter 00 (the registry table, licences, working offline); chapter 02
loads the datasets it lists.

One entry per dataset. ``hiercourse.datasets.fetch.locate`` reads an entry to
know which files make up a dataset, how to check them and where to download
them from. Every checksum here is a published value (see ``Dataset.provenance``):

- MovieLens archives: TensorFlow Datasets' ``url_checksums/movielens.txt``.
- ml-latest-small's extracted files: GroupLens' files as shipped in the
  2018-09-26 release (checked against the read-only reference copy the course
  tests run on).
- MNIST files: TensorFlow Datasets' ``url_checksums/mnist.txt`` (their md5s
  equal the ones torchvision and the original page publish).

Where no checksum of an extracted file is published (ml-100k, ml-1m) the
archive's sha256 is checked when it is downloaded, and a local folder is
checked by its structure instead: the number of lines of each file and the
number of fields on its first line.
"""
from __future__ import annotations

from dataclasses import dataclass, field

GROUPLENS = "https://files.grouplens.org/datasets/movielens/"

MOVIELENS_LICENCE = (
    "MovieLens data (GroupLens Research, University of Minnesota), from the README shipped "
    "with the data, in short: use for research only; do not imply endorsement by the "
    "University of Minnesota or GroupLens; acknowledge the data by citing the paper below; "
    "redistribute only under the same licence; no commercial use without permission "
    "(contact grouplens-info@umn.edu). Read the full README.txt / README in the archive."
)
MOVIELENS_CITATION = (
    "F. Maxwell Harper and Joseph A. Konstan. 2015. The MovieLens Datasets: History and "
    "Context. ACM Transactions on Interactive Intelligent Systems (TiiS) 5, 4: 19:1-19:19. "
    "https://doi.org/10.1145/2827872"
)


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset and how to check it.

    ``name`` is the file name inside the dataset's folder; ``sha256`` is the
    published checksum (``None`` when none is published; then
    ``lines``/``sep``/``fields`` describe the structure that is checked instead);
    ``size`` is in bytes; ``required=False`` files are verified when present but
    may be missing. ``urls`` are only set for files downloaded one by one (MNIST),
    first url first. Taught in chapter 00.
    """

    name: str
    sha256: str | None = None
    size: int | None = None
    required: bool = True
    lines: int | None = None  # number of newline-terminated lines (header included)
    sep: str | None = None  # field separator of the first line
    fields: int | None = None  # number of fields on the first line
    urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class Archive:
    """A zip archive that holds a dataset's files (inside ``member_dir`` when not at its top).

    ``filename``, its published ``sha256`` and ``size`` (bytes), and the ``urls`` it is
    downloaded from, first url first. Taught in chapter 00.
    """

    filename: str
    sha256: str
    size: int
    urls: tuple[str, ...]
    member_dir: str = ""


@dataclass(frozen=True)
class Dataset:
    """A registry entry: name, description, licence, citation, files and how they are checked.

    ``kind`` is "files" (local or downloaded files) or "synthetic" (generated);
    ``files`` holds one :class:`FileSpec` per file, ``archive`` the zip they come in
    (if any); ``stats`` the published counts (e.g. ratings, users). Read an entry with
    ``REGISTRY[name]``. Taught in chapter 00.
    """

    name: str
    description: str
    licence: str
    citation: str
    homepage: str
    files: tuple[FileSpec, ...] = ()
    archive: Archive | None = None
    kind: str = "files"
    provenance: str = ""
    verification: str = ""
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def required_files(self) -> tuple[FileSpec, ...]:
        """The :class:`FileSpec` of every file that must be present (``required=True``)."""
        return tuple(f for f in self.files if f.required)

    def file(self, name: str) -> FileSpec:
        """The :class:`FileSpec` called ``name``; KeyError (listing the files) when there is none."""
        for spec in self.files:
            if spec.name == name:
                return spec
        raise KeyError(f"{self.name} has no file {name!r}; it has {[f.name for f in self.files]}")

    @property
    def urls(self) -> tuple[str, ...]:
        """Every url the dataset can be downloaded from (archive urls, or the per-file ones)."""
        if self.archive is not None:
            return self.archive.urls
        return tuple(u for f in self.files for u in f.urls)


ML_LATEST_SMALL = Dataset(
    name="ml-latest-small",
    description=(
        "MovieLens latest-small (release of 2018-09-26): 100,836 ratings (0.5-5 stars, half "
        "steps) and 3,683 tags by 610 users on 9,742 movies, 1996-03-29 to 2018-09-24. "
        "Movies carry '|'-separated genres. No user demographics."
    ),
    licence=MOVIELENS_LICENCE,
    citation=MOVIELENS_CITATION,
    homepage="https://grouplens.org/datasets/movielens/latest/",
    files=(
        FileSpec("ratings.csv", "aa289ca83157595d0df6aea1be6a4ded676ddc4385472e8313a8ed9805352646", 2483723),
        FileSpec("movies.csv", "5a5f32dd9bb3797b8e728a1b98958789d2b13f294a69fdfbc5727f8a9611aa07", 494431),
        FileSpec("tags.csv", "92a9f8bb7916dceef6151209845788c3643f794dfa79d1feaec7121b5960399d", 118660,
                 required=False),
        FileSpec("links.csv", "97ad18e4e56a09363c65676b6cb3482ce3e2cea2372a24620c1599c843325f31", 197979,
                 required=False),
        FileSpec("README.txt", "63d22ac138e80fae37021797ed8e1b9424b5239dc576a137422adf783ae3f404", 8342,
                 required=False),
    ),
    archive=Archive(
        filename="ml-latest-small.zip",
        sha256="696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
        size=978202,
        urls=(GROUPLENS + "ml-latest-small.zip",),
        member_dir="ml-latest-small",
    ),
    provenance=(
        "Archive sha256 and size: tensorflow/datasets url_checksums/movielens.txt. File sha256: "
        "the files of the 2018-09-26 release as GroupLens ships them."
    ),
    verification="sha256 of the archive on download; sha256 of every file in a local folder.",
    stats={"ratings": 100_836, "users": 610, "rated_movies": 9_724, "movies": 9_742},
)

ML_100K = Dataset(
    name="ml-100k",
    description=(
        "MovieLens 100K (released 1998-04): 100,000 ratings (1-5 stars) by 943 users on "
        "1,682 movies, 1997-09 to 1998-04; 19 binary genre flags per movie; user age, "
        "gender, occupation and zip code."
    ),
    licence=MOVIELENS_LICENCE,
    citation=MOVIELENS_CITATION,
    homepage="https://grouplens.org/datasets/movielens/100k/",
    files=(
        FileSpec("u.data", lines=100_000, sep="\t", fields=4),
        FileSpec("u.item", lines=1_682, sep="|", fields=24),
        FileSpec("u.user", lines=943, sep="|", fields=5),
    ),
    archive=Archive(
        filename="ml-100k.zip",
        sha256="50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
        size=4924029,
        urls=(GROUPLENS + "ml-100k.zip",),
        member_dir="ml-100k",
    ),
    provenance="Archive sha256 and size: tensorflow/datasets url_checksums/movielens.txt.",
    verification=(
        "No sha256 of the extracted files is published: the archive's sha256 is checked on "
        "download; a local folder is checked by structure (line counts 100,000 / 1,682 / 943 "
        "and fields per line 4 / 24 / 5)."
    ),
    stats={"ratings": 100_000, "users": 943, "movies": 1_682},
)

ML_1M = Dataset(
    name="ml-1m",
    description=(
        "MovieLens 1M (released 2003-02): 1,000,209 ratings (1-5 stars) by 6,040 users on "
        "3,706 of 3,883 movies, 2000-2003; '|'-separated genres; user gender, age group, "
        "occupation and zip code. Files use '::' as separator and latin-1 text."
    ),
    licence=MOVIELENS_LICENCE,
    citation=MOVIELENS_CITATION,
    homepage="https://grouplens.org/datasets/movielens/1m/",
    files=(
        FileSpec("ratings.dat", lines=1_000_209, sep="::", fields=4),
        FileSpec("movies.dat", lines=3_883, sep="::", fields=3),
        FileSpec("users.dat", lines=6_040, sep="::", fields=5),
    ),
    archive=Archive(
        filename="ml-1m.zip",
        sha256="a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
        size=5917549,
        urls=(GROUPLENS + "ml-1m.zip",),
        member_dir="ml-1m",
    ),
    provenance="Archive sha256 and size: tensorflow/datasets url_checksums/movielens.txt.",
    verification=(
        "No sha256 of the extracted files is published: the archive's sha256 is checked on "
        "download; a local folder is checked by structure (line counts 1,000,209 / 3,883 / "
        "6,040 and fields per line 4 / 3 / 5)."
    ),
    stats={"ratings": 1_000_209, "users": 6_040, "rated_movies": 3_706, "movies": 3_883},
)

# MNIST mirrors, tried in order. The original page (yann.lecun.com) often refuses
# downloads nowadays, so the two mirrors that PyTorch and TensorFlow use come first.
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)


def _mnist_file(name: str, sha256: str, size: int, required: bool = True) -> FileSpec:
    return FileSpec(name, sha256, size, required=required, urls=tuple(m + name for m in MNIST_MIRRORS))


MNIST = Dataset(
    name="mnist",
    description=(
        "MNIST handwritten digits: 60,000 training and 10,000 test images, 28x28 grey "
        "levels, labels 0-9, in gzipped IDX files (images magic 2051, labels magic 2049)."
    ),
    licence=(
        "No licence file ships with MNIST; it is commonly described as CC BY-SA 3.0 "
        "(Y. LeCun, C. Cortes, C. J. C. Burges). Cite the paper below."
    ),
    citation=(
        "Y. LeCun, L. Bottou, Y. Bengio and P. Haffner. 1998. Gradient-based learning applied "
        "to document recognition. Proceedings of the IEEE 86(11): 2278-2324. "
        "Data: http://yann.lecun.com/exdb/mnist/ (LeCun, Cortes, Burges)."
    ),
    homepage="http://yann.lecun.com/exdb/mnist/",
    files=(
        _mnist_file("train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                    9912422),
        _mnist_file("train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                    28881),
        _mnist_file("t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                    1648877),
        _mnist_file("t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                    4542),
    ),
    provenance="sha256 and sizes: tensorflow/datasets url_checksums/mnist.txt.",
    verification=(
        "sha256 of every file, downloaded or local. Ask for a subset with "
        "locate('mnist', files=[...]) when only some files are at hand (e.g. the test set)."
    ),
    stats={"train": 60_000, "test": 10_000},
)

SHOP = Dataset(
    name="shop",
    description=(
        "A synthetic shop (department > category > item) with users whose interests are a "
        "known hierarchy; generated by hiercourse.datasets.shop.make_shop, with ground truth."
    ),
    licence="Generated by the course's code (MIT); no third-party data.",
    citation="hiercourse, chapter 02 (make_shop).",
    homepage="",
    kind="synthetic",
    verification="Nothing to download or verify: the data are generated from a seed.",
)

REGISTRY: dict[str, Dataset] = {d.name: d for d in (ML_LATEST_SMALL, ML_100K, ML_1M, MNIST, SHOP)}
