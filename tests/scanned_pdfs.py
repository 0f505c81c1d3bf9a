"""Scanned PDFs written here, at test time: Japanese text drawn with Pillow in a Noto CJK font and saved
as page images in a PDF (JPEG, no text layer), as a scanner makes them; the 規程 they show; and the
character error rate of what OCR reads of them. No text or file is copied from elsewhere."""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Sequence
from pathlib import Path

#: the font the pages are drawn in (index 0 of the collection is Noto Sans CJK JP)
NOTO_CJK = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
NEEDS_NOTO_CJK = f"drawing Japanese pages needs {NOTO_CJK}: install the Debian package fonts-noto-cjk"

#: A 文書管理規程 and the manual beside it, one paragraph each (written for these tests).
REGULATION = [
    "第1条（目的）この規程は、当社における文書の作成、保管、保存および廃棄に関する基本的な事項を定め、"
    "業務の効率化と情報の適切な管理を図ることを目的とする。",
    "第2条（適用範囲）この規程は、役員および従業員が業務上作成し、または取得したすべての文書に適用する。"
    "電子メールおよび電子ファイルも文書に含まれるものとする。",
    "第3条（文書管理責任者）各部門の長は文書管理責任者として、所管する文書の分類、保管場所および保存期間を定め、"
    "年に一度その状況を総務部に報告しなければならない。",
    "第4条（保存期間）契約書および会計帳簿は10年間、人事に関する記録は5年間、その他の業務文書は3年間保存する。"
    "ただし、法令に別段の定めがある場合はこれに従う。",
    "第5条（持出しの制限）機密文書を社外に持ち出す場合は、事前に所属長の許可を得て、持出し記録簿に日時、"
    "件名および返却予定日を記入しなければならない。",
    "第6条（廃棄）保存期間を経過した文書は、文書管理責任者の確認を受けたうえで、シュレッダーまたは溶解処理により"
    "確実に廃棄する。廃棄した文書の目録は1年間保管する。",
    "第7条（電子文書の管理）電子文書は会社が指定した共有フォルダに保存し、個人のパソコンや私物の記憶媒体に"
    "保存してはならない。アクセス権限は業務上必要な者に限り付与する。",
    "第8条（改廃）この規程の改廃は、総務部長が起案し、取締役会の承認を得て行う。",
    "共有フォルダの使い方：新しいフォルダを作るときは、部署名、年度、案件名の順に名前を付けてください。"
    "例えば「総務部_2026_備品購入」のように入力します。",
    "パスワードの変更：社内システムのパスワードは90日ごとに変更が必要です。画面右上の設定メニューから"
    "「パスワード変更」を選び、新しいパスワードを2回入力してください。",
    "ファイルを誤って削除した場合は、30日以内であればごみ箱から元に戻せます。それを過ぎたときは、"
    "情報システム課の窓口（内線2104）へ連絡してください。",
    "会議室の予約は、利用日の2週間前から前日の17時まで受け付けます。外部の来客がある場合は、"
    "予約時に人数と会社名を備考欄へ記入してください。",
    "出張報告書は帰社後5営業日以内に提出します。訪問先、面談者、協議内容および今後の対応を簡潔にまとめ、"
    "領収書の写しを添付してください。",
    "在宅勤務の日は、始業時と終業時に勤怠システムへ打刻し、業務の開始と終了をチームのチャットで知らせてください。",
]


def scan_pages(count: int, paragraphs_per_page: int = 5, seed: int = 3) -> list[list[str]]:
    """`count` pages of `REGULATION`'s paragraphs, each page a different draw (so no two pages look alike)."""
    rng = random.Random(seed)
    return [rng.sample(REGULATION, paragraphs_per_page) for _ in range(count)]


def write_scan(
    path: Path,
    pages: Sequence[Sequence[str]],
    *,
    dpi: int = 200,
    points: float = 10.5,
    skew: float = 0.0,
    noise: float = 0.0,
    seed: int = 0,
) -> Path:
    """A PDF of one A4 page image per item of `pages` (its paragraphs, wrapped to the page width, in a
    `points`-point font), scanned at `dpi`: turned by up to `skew` degrees, with grey noise of
    standard deviation `noise`, saved as JPEG; it has no text layer."""
    from PIL import Image, ImageChops, ImageDraw, ImageFont

    font = ImageFont.truetype(str(NOTO_CJK), round(points / 72 * dpi), index=0)
    width, height = round(8.27 * dpi), round(11.69 * dpi)
    margin, leading = dpi, round(font.size * 1.7)
    rng = random.Random(seed)
    images = []
    for paragraphs in pages:
        image = Image.new("L", (width, height), 255)
        draw = ImageDraw.Draw(image)
        y = margin
        for paragraph in paragraphs:
            for line in _wrapped(paragraph, draw, font, width - 2 * margin):
                draw.text((margin, y), line, font=font, fill=0)
                y += leading
            y += leading // 2
        if skew:
            image = image.rotate(rng.uniform(-skew, skew), resample=Image.Resampling.BICUBIC, fillcolor=255)
        if noise:
            image = ImageChops.add(image, Image.effect_noise((width, height), noise), offset=-128)
        images.append(image)
    images[0].save(path, "PDF", resolution=dpi, save_all=True, append_images=images[1:], quality=85)
    return path


def _wrapped(paragraph: str, draw: object, font: object, room: int) -> list[str]:
    lines, line = [], ""
    for character in paragraph:
        if line and draw.textlength(line + character, font=font) > room:  # type: ignore[attr-defined]
            lines.append(line)
            line = ""
        line += character
    return [*lines, line]


def edit_distance(first: str, second: str) -> int:
    """The Levenshtein distance: insertions, deletions and substitutions turning `first` into `second`."""
    if len(first) < len(second):
        first, second = second, first
    row = list(range(len(second) + 1))
    for i, a in enumerate(first, 1):
        previous, row[0] = row[0], i
        for j, b in enumerate(second, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (a != b))
    return row[-1]


def comparable(text: str) -> str:
    """`text` as OCR is scored: NFKC (full- and half-width alike, as search reads them), no whitespace."""
    return "".join(unicodedata.normalize("NFKC", text).split())


def character_error_rate(reference: str, read: str) -> float:
    """Edits per reference character between what a page says and what OCR read of it (`comparable` forms)."""
    reference, read = comparable(reference), comparable(read)
    return edit_distance(reference, read) / max(len(reference), 1)
