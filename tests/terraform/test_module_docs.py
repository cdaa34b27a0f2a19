"""Each module's README documents exactly the module's inputs and outputs (names, descriptions, types, defaults).

The .tf files are read with regular expressions that rely on `terraform fmt` layout (attributes indented by two
spaces), which `make lint` enforces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted(p.name for p in (ROOT / "modules").iterdir() if (p / "main.tf").is_file())


@dataclass(frozen=True)
class Input:
    name: str
    description: str
    type: str
    default: str | None  # HCL text as written; None = required


def blocks(text: str, kind: str) -> dict[str, str]:
    """Top-level `<kind> "name" { ... }` blocks of a fmt-formatted file, by name."""
    found = re.finditer(rf'^{kind} "([^"]+)" \{{\n(.*?)^\}}', text, re.MULTILINE | re.DOTALL)
    return {m.group(1): m.group(2) for m in found}


def attribute(body: str, name: str) -> str | None:
    """A block's top-level attribute (two-space indent), possibly spanning lines, as HCL text."""
    match = re.search(rf"^  {name}\s*=\s*(.*?)(?=^  [a-z_]+\s*[={{]|\Z)", body, re.MULTILINE | re.DOTALL)
    return match.group(1).strip() if match else None


def description(body: str) -> str:
    text = attribute(body, "description") or ""
    return text[1:-1].replace('\\"', '"') if text.startswith('"') else text


def normalise(hcl: str) -> str:
    """Compare HCL types and defaults regardless of line breaks, spacing and separating commas."""
    return re.sub(r"[\s,`]", "", hcl)


def config_dir(module: str) -> Path:
    """A module's directory, or the root configuration's for "."."""
    return ROOT if module == "." else ROOT / "modules" / module


def code_inputs(module: str) -> dict[str, Input]:
    text = (config_dir(module) / "variables.tf").read_text()
    return {
        name: Input(name, description(body), attribute(body, "type") or "any", attribute(body, "default"))
        for name, body in blocks(text, "variable").items()
    }


def code_outputs(module: str) -> dict[str, str]:
    text = (config_dir(module) / "outputs.tf").read_text()
    return {name: description(body) for name, body in blocks(text, "output").items()}


def table(readme: str, heading: str) -> list[list[str]]:
    """Rows (cells without the surrounding pipes) of the first table under `## <heading>`."""
    section = re.search(rf"^## {heading}\n(.*?)(?=^## |\Z)", readme, re.MULTILINE | re.DOTALL)
    assert section, f"README has no '## {heading}' section"
    rows = [line for line in section.group(1).splitlines() if line.startswith("|")]
    cells = [[cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows[2:]]  # skip header
    return [[cell.replace("\\|", "|") for cell in row] for row in cells]


def unquote(cell: str) -> str:
    return cell[1:-1] if cell.startswith("`") and cell.endswith("`") else cell


@pytest.fixture(params=MODULES)
def module(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(params=[*MODULES, "."], ids=[*MODULES, "root"])
def config(request: pytest.FixtureRequest) -> str:
    """Every configuration whose README carries inputs/outputs tables: the modules and the root."""
    return request.param


def readme(module: str) -> str:
    return (config_dir(module) / "README.md").read_text()


def test_there_are_the_four_modules_of_the_design() -> None:
    assert MODULES == ["dynamodb", "lambda", "monitoring", "s3"]


def test_every_variable_and_output_has_a_description(config: str) -> None:
    assert [i.name for i in code_inputs(config).values() if not i.description] == []
    assert [name for name, text in code_outputs(config).items() if not text] == []


def test_the_readme_inputs_table_matches_variables_tf(config: str) -> None:
    documented = {
        unquote(name): Input(unquote(name), text, unquote(type_), None if required == "yes" else unquote(default))
        for name, text, type_, default, required in table(readme(config), "Inputs")
    }
    in_code = code_inputs(config)

    assert sorted(documented) == sorted(in_code), "README inputs differ from variables.tf"
    for name, expected in in_code.items():
        found = documented[name]
        assert found.description == expected.description, name
        assert normalise(found.type) == normalise(expected.type), name
        assert (found.default is None) == (expected.default is None), f"{name}: required flag"
        if expected.default is not None:
            assert normalise(found.default) == normalise(expected.default), name


def test_the_readme_outputs_table_matches_outputs_tf(config: str) -> None:
    documented = {unquote(name): text for name, text in table(readme(config), "Outputs")}

    assert documented == code_outputs(config)


def test_the_readme_explains_the_module_with_an_example_call(module: str) -> None:
    text = readme(module)

    assert re.search(rf'module "{module}" \{{\n\s+source\s+=\s+"[^"]*modules/{module}"', text), "no example call"
    required = [i.name for i in code_inputs(module).values() if i.default is None]
    example = text[text.index(f'module "{module}"') :].split("\n}\n")[0]
    assert [name for name in required if not re.search(rf"^\s+{name}\s+=", example, re.MULTILINE)] == []
