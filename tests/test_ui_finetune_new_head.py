"""Fine-tune tab: the trainable/frozen counts include "New head" (its fresh parameters train and replace the
old head's), and they agree with what the training loop freezes."""

import pytest
from finetune_fixtures import write_untrained_demo

from inspector.core.checkpoint.loader import load_checkpoint
from inspector.core.models.demo import MnistCNN
from inspector.core.training.freeze import count_by_names, new_head_sizes, parse_patterns, plan_freeze
from inspector.core.training.prepare import replace_head
from inspector.ui.session import Session
from inspector.ui.training_panel import TrainingPanel

pytest_plugins = ["ui_fixtures"]
pytestmark = pytest.mark.usefixtures("no_dangling_workers", "ui_settings")
TOTAL = 105_898  # the demo net; fc2 (64 -> 10) holds 650 of it


@pytest.fixture
def panel(qtbot, tmp_path, ui_settings):
    session = Session()
    widget = TrainingPanel(session, ui_settings)
    qtbot.addWidget(widget)
    widget.show()
    session.set_checkpoint(load_checkpoint(str(write_untrained_demo(tmp_path))))
    yield widget
    widget.shutdown()


def test_counts_include_the_new_head(panel):
    panel.freeze_edit.setText("conv1.*, bn1.*, conv2.*")
    assert panel.counts_label.text() == f"{TOTAL - 4832:,} trainable, 4,832 frozen parameters"
    panel.new_head.setValue(3)  # fc2 becomes 64 -> 3: 195 parameters instead of 650
    assert panel.counts_label.text().startswith(
        f"{TOTAL - 4832 - 650 + 195:,} trainable, 4,832 frozen parameters"
    )
    assert "new head fc2 (3 classes, 195, trains)" in panel.counts_label.text()
    panel.freeze_edit.setText("conv1, bn1, conv2, fc1, fc2")  # the old head frozen: the new one still trains
    assert panel.counts_label.text().startswith(f"195 trainable, {TOTAL - 650:,} frozen parameters")
    panel.new_head.setValue(1)  # "keep"
    assert panel.counts_label.text() == f"0 trainable, {TOTAL:,} frozen parameters"


@pytest.mark.parametrize(("patterns", "last"), [("conv1.*, bn1.*, conv2.*", None), ("conv1, bn1, conv2, fc1, fc2", None),
                                                ("", 1), ("fc*", None)])  # fmt: skip
def test_counts_by_names_agree_with_the_training_plan(patterns, last):
    net = MnistCNN()
    shapes = {name: tuple(p.shape) for name, p in net.named_parameters()}
    sizes = {name: p.numel() for name, p in net.named_parameters()}
    head = replace_head(net, 3)
    plan = plan_freeze(net, parse_patterns(patterns), last, new_head=head)
    assert head == "fc2" and "fc2.weight" in plan.trainable and "fc2.weight" not in plan.frozen_state
    assert count_by_names(sizes, parse_patterns(patterns), last, new_head_sizes(shapes, 3)) == plan.counts(
        net
    )


# -- the tab's messages name its controls, not the command line's flags ------------------------------------------
def start_and_fail(qtbot, panel):
    qtbot.waitUntil(lambda: panel.start_button.isEnabled(), timeout=60000)
    panel.start()
    qtbot.waitUntil(lambda: panel.status.text().startswith("error: "), timeout=60000)
    return panel.status.text()


@pytest.mark.parametrize(
    ("setup", "words", "flag"),
    [
        (lambda p, tmp: (p.freeze_edit.setText("cnov*"), p.data_root.setText(str(tmp))), "Freeze pattern 'cnov*'",
         "--freeze"),
        (lambda p, tmp: p.data_root.setText(str(tmp / "nowhere")), "choose the data root with Browse…", "--data"),
    ],
)  # fmt: skip
def test_training_errors_name_the_tab_controls(qtbot, panel, tmp_path, setup, words, flag):
    from finetune_fixtures import write_square_digits

    panel.data_kind.setCurrentText("mnist")
    setup(panel, write_square_digits(tmp_path / "data", n=40))
    message = start_and_fail(qtbot, panel)
    assert words in message and flag not in message and "--" not in message


def test_training_messages_keep_their_flags_on_the_command_line():
    from inspector.core.errors import InspectorError

    net = MnistCNN()
    with pytest.raises(InspectorError) as err:
        plan_freeze(net, ["cnov*"])
    assert err.value.message.startswith("--freeze pattern 'cnov*' matches no parameter or module")
    assert err.value.gui_message.startswith("Freeze pattern 'cnov*' matches no parameter or module")
