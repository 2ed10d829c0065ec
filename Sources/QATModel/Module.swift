// QATModel
