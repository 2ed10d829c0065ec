// QATAutograd
