"""Write the quickstart's PDF and Excel files: corpora/planets/惑星データ集.pdf and 惑星と探査機.xlsx.

    .venv/bin/python tools/write_planet_files.py

Their text is ours (well-known facts about the planets and their probes), so the files can be
rebuilt at any time; the PDF has one page per planet under a running header and page numbers,
as a typeset fact sheet has, so the quickstart shows page locations and header removal.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from office_files import write_pdf  # noqa: E402

#: (planet, diameter km, orbital period, moons, mean temperature ℃, what it is known for)
PLANETS = [
    ("水星", 4879, "88日", 0, 167, [
        "太陽に最も近い惑星で、大気がほとんどないため、昼は約430℃、夜は約マイナス180℃まで冷える。",
        "表面は月のように多くのクレーターに覆われている。",
        "自転周期は約59日と長く、水星の一日（日の出から次の日の出まで）は約176日にもなる。",
        "探査機メッセンジャーが周回軌道から表面全体の地図を作り、ベピコロンボが到着に向けて飛行している。",
    ]),
    ("金星", 12104, "225日", 0, 464, [
        "厚い二酸化炭素の大気の温室効果で、表面は鉛が溶けるほど熱く、気圧は地球の約90倍ある。",
        "硫酸の雲に覆われ、明けの明星・宵の明星として明るく輝く。",
        "自転の向きが他の多くの惑星と逆で、自転周期は約243日と公転周期より長い。",
        "大きさと質量が地球に近いことから、地球の双子星と呼ばれることもある。",
    ]),
    ("地球", 12742, "365.25日", 1, 15, [
        "液体の水の海を持ち、生命が確認されている唯一の惑星である。",
        "大気は窒素と酸素が主で、オゾン層が太陽の紫外線を吸収している。",
        "地軸が約23.4度傾いているため季節が生まれる。",
        "衛星の月は惑星に比べて大きく、その引力が潮の満ち引きを起こしている。",
    ]),
    ("火星", 6779, "687日", 2, -63, [
        "地表の砂や岩に酸化鉄（鉄さび）が多く含まれ、砂嵐が惑星全体を覆うこともある。",
        "太陽系最大の火山オリンポス山は、高さがエベレストの約3倍ある。",
        "大気は薄い二酸化炭素で、極には氷の極冠があり、季節によって大きさが変わる。",
        "衛星はフォボスとダイモスの二つで、どちらも小さくいびつな形をしている。",
    ]),
    ("木星", 139820, "11.86年", 95, -110, [
        "太陽系最大の惑星で、質量は他のすべての惑星を合わせた量の2倍以上ある。",
        "水素とヘリウムでできたガス惑星で、縞模様の雲が自転とともに流れている。",
        "大赤斑は地球がすっぽり入るほどの大きな嵐で、数百年にわたって続いている。",
        "ガリレオ衛星と呼ばれる四つの大きな衛星のうち、ガニメデは太陽系最大の衛星である。",
    ]),
    ("土星", 116460, "29.46年", 146, -140, [
        "氷と岩の粒でできた大きな環を持ち、小さな望遠鏡でも見ることができる。",
        "平均密度は水より小さく、太陽系の惑星で最も軽い。",
        "最大の衛星タイタンには厚い大気があり、メタンの湖や川が見つかっている。",
        "衛星エンケラドスの南極からは水の噴出が観測され、内部に海があると考えられている。",
    ]),
    ("天王星", 50724, "84.0年", 28, -195, [
        "自転軸が約98度傾き、横倒しのまま公転しているため、極では42年ずつ昼と夜が続く。",
        "大気に含まれるメタンが赤い光を吸収するため、青緑色に見える。",
        "1781年にウィリアム・ハーシェルが望遠鏡で発見した、初めての望遠鏡で見つかった惑星である。",
        "細く暗い環を持つことが、恒星の掩蔽の観測で分かった。",
    ]),
    ("海王星", 49244, "164.8年", 16, -200, [
        "太陽から最も遠い惑星で、太陽系で最も強い風が吹き、その速さは秒速500メートルを超える。",
        "天王星の軌道のずれから位置が計算され、1846年に予測どおりの場所で発見された。",
        "最大の衛星トリトンは、惑星の自転と逆向きに公転している。",
        "探査機が訪れたのは、1989年に接近したボイジャー2号だけである。",
    ]),
]  # fmt: skip
#: (probe, launch year, destination, what it did)
PROBES = [
    ("はやぶさ2", 2014, "小惑星リュウグウ", "小惑星の試料を採取し、2020年に地球へ届けた"),
    ("ボイジャー1号", 1977, "木星・土星", "木星と土星を観測したのち、太陽圏を出た最初の探査機になった"),
    ("カッシーニ", 1997, "土星", "土星の環と衛星タイタンを13年にわたって調べた"),
    ("パーサヴィアランス", 2020, "火星", "ジェゼロ・クレーターで岩石の試料を集めている"),
    ("あかつき", 2010, "金星", "金星の大気が自転より速く回るスーパーローテーションを観測した"),
    ("ジュノー", 2011, "木星", "木星の極の嵐と強い磁場を観測している"),
]
WRITTEN = datetime(2026, 4, 1, 9, 0)


def write_fact_sheet(path: Path) -> Path:
    pages = []
    for number, (name, diameter, period, moons, temperature, notes) in enumerate(PLANETS, start=1):
        facts = (
            f"{name}の直径は約{diameter:,}キロメートル、公転周期は{period}、衛星の数は{moons}個、"
            f"平均表面温度は約{temperature}℃である。"
        )
        pages.append([f"第{number}章　{name}", facts + "".join(notes)])
    return write_pdf(path, pages, header="惑星データ集", footer=True, title="惑星データ集", author="hybridsearch")


def write_workbook(path: Path) -> Path:
    import openpyxl

    workbook = openpyxl.Workbook()
    planets = workbook.active
    planets.title = "惑星"
    planets.append(["惑星", "直径(km)", "公転周期", "衛星の数", "平均気温(℃)"])
    for name, diameter, period, moons, temperature, _ in PLANETS:
        planets.append([name, diameter, period, moons, temperature])
    probes = workbook.create_sheet("探査機")
    probes.append(["探査機", "打ち上げ", "目的地", "成果"])
    for row in PROBES:
        probes.append(list(row))
    workbook.properties.title = "惑星と探査機"
    workbook.properties.creator = "hybridsearch"
    workbook.properties.created = workbook.properties.modified = WRITTEN
    workbook.save(path)
    return path


if __name__ == "__main__":
    folder = ROOT / "corpora" / "planets"
    for written in (write_fact_sheet(folder / "惑星データ集.pdf"), write_workbook(folder / "惑星と探査機.xlsx")):
        print(written.relative_to(ROOT), written.stat().st_size, "bytes")
